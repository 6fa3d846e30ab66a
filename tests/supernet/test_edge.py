"""One edge interface for every sharing mechanism: forward, module_for, extract, mixture."""
import pytest
import torch

from nasengine.supernet import SHARING, Edge
from search_spaces.nb201.model import op_choices

OPS = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def edge_of(sharing: str) -> Edge:
    torch.manual_seed(0)
    return SHARING.get(sharing)(op_choices(4, OPS, affine=True))


@pytest.fixture(params=SHARING.names())
def edge(request) -> Edge:
    return edge_of(request.param)


def test_every_mechanism_builds_an_edge(edge):
    assert isinstance(edge, Edge)


def test_an_extracted_choice_computes_what_the_edge_computes(edge):
    x = torch.randn(2, 4, 6, 6)
    edge.eval()
    for op in OPS:
        alone = edge.extract(op).eval()
        assert torch.allclose(alone(x), edge(x, op), atol=1e-6), op
        assert not any(p.data_ptr() == q.data_ptr() for p in alone.parameters()
                       for q in edge.parameters())  # a copy, not the supernet's weights


def test_module_for_is_where_the_choice_trains(edge):
    edge(torch.randn(2, 4, 6, 6), "nor_conv_3x3").square().sum().backward()
    trained = edge.module_for("nor_conv_3x3")
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trained.parameters())
    untouched = {id(p) for p in trained.parameters()}
    assert all(p.grad is None for p in edge.parameters() if id(p) not in untouched)
    assert edge.module_for("skip_connect") is None or not list(
        edge.module_for("skip_connect").parameters())


def test_k_forward_mixture_is_the_weighted_sum_of_choices(edge):
    x, w = torch.randn(2, 4, 6, 6), dict(zip(OPS, torch.softmax(torch.randn(4), 0)))
    edge.eval()
    expected = sum(w[op] * edge(x, op) for op in OPS)
    assert torch.allclose(edge.forward_mixture(x, w, one_pass=False), expected, atol=1e-6)
    assert torch.equal(edge.forward_mixture(x, {}), torch.zeros_like(x))


def test_a_mechanism_must_implement_the_whole_interface():
    class Partial(Edge):
        def forward(self, x, choice):
            return x

    with pytest.raises(TypeError, match="module_for|extract"):
        Partial()
