"""NB201 with entanglement: nor_conv_1x1 is the centre of nor_conv_3x3 on each edge."""
import random

import pytest
import torch
import torch.nn.functional as F

from nasengine import api
from nasengine.config import load_config
from nasengine.families import get_family
from nasengine.supernet import EntangledEdge
from search_spaces.nb201 import OPS, NB201Space
from search_spaces.nb201.graph import effective_arch

SPACE = NB201Space()
MIXED = ("|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|"
         "nor_conv_3x3~2|")


def build(sharing: str, **config):
    return get_family("nb201").build_supernet(sharing, channels=config.get("channels", 4),
                                              cells=config.get("cells", 1))


def first_edge(net) -> torch.nn.Module:
    return net.network.layers[0].edges["1<-0"]


def test_entangled_drops_exactly_the_1x1_weights():
    c, cells = 4, 1
    ws, ent = build("weight_sharing"), build("entangled")
    count = lambda n: sum(p.numel() for p in n.parameters())  # noqa: E731
    edges_per_width = 6 * cells
    assert count(ws) - count(ent) == sum(edges_per_width * w * w for w in (c, 2 * c, 4 * c))
    assert isinstance(first_edge(ent), EntangledEdge)


def test_weight_sharing_state_dict_keys_are_unchanged():
    keys = [k for k in build("weight_sharing").state_dict() if "layers.0.edges.1<-0." in k]
    assert keys == [f"network.layers.0.edges.1<-0.choices.{op}.{i}.{name}"
                    for op in ("nor_conv_1x1", "nor_conv_3x3") for i, names in
                    ((1, ("weight",)), (2, ("running_mean", "running_var", "num_batches_tracked")))
                    for name in names]


def test_1x1_is_the_centre_of_the_3x3_weight_and_trains_it():
    torch.manual_seed(0)
    edge = first_edge(build("entangled")).train()
    op = edge.shared["nor_conv"]
    x = torch.randn(3, 4, 6, 6)
    centre = op.conv.weight[:, :, 1:2, 1:2]
    expected = F.batch_norm(F.conv2d(F.relu(x), centre), None, None, training=True)
    assert torch.allclose(edge(x, "nor_conv_1x1"), expected, atol=1e-5)
    edge(x, "nor_conv_1x1").square().sum().backward()
    grad = op.conv.weight.grad
    assert (grad[:, :, 1, 1] != 0).all()
    outside = torch.ones_like(grad, dtype=torch.bool)
    outside[:, :, 1, 1] = False
    assert (grad[outside] == 0).all()  # nothing outside the centre


def test_choice_modules_point_both_convs_at_the_one_shared_op():
    net = build("entangled")
    arch = SPACE.parse(MIXED)
    used = net.choice_modules(arch)
    assert set(used) == {"nor_conv_1x1", "nor_conv_3x3", "skip_connect", "avg_pool_3x3"}
    assert len(used["nor_conv_1x1"]) == 2 * 3 and len(used["nor_conv_3x3"]) == 2 * 3
    shared = {id(e.shared["nor_conv"]) for cell in net.network.layers if hasattr(cell, "edges")
              for e in cell.edges.values()}
    assert {id(m) for m in used["nor_conv_1x1"]} <= shared


def test_canonical_form_is_exact_for_the_entangled_supernet():
    torch.manual_seed(1)
    net = build("entangled").train()
    x = torch.randn(4, 3, 16, 16)
    rng = random.Random(0)
    with torch.no_grad():
        for arch in [SPACE.sample(rng) for _ in range(25)]:
            assert net.canonical(arch) == effective_arch(arch)
            assert torch.allclose(net(x, arch), net(x, effective_arch(arch)), atol=1e-5)


def test_edge_mixture_in_one_pass_equals_k_forwards_with_eval_bn():
    """Eval-mode BN is affine per channel, so mixing before it is exact."""
    torch.manual_seed(2)
    edge = first_edge(build("entangled"))
    x = torch.randn(2, 4, 6, 6)
    for _ in range(2):
        edge(x, "nor_conv_3x3"), edge(x, "nor_conv_1x1")  # non-trivial running stats
    edge.eval()
    w = dict(zip(OPS[1:], torch.softmax(torch.randn(4), 0)))
    one = edge.forward_mixture(x, w, one_pass=True)
    k = edge.forward_mixture(x, w, one_pass=False)
    assert torch.allclose(one, k, atol=1e-5)
    assert torch.allclose(k, sum(w[op] * edge(x, op) for op in w), atol=1e-6)


def test_extracted_conv_op_computes_the_supernet_path():
    torch.manual_seed(3)
    edge = first_edge(build("entangled"))
    x = torch.randn(2, 4, 6, 6)
    for kernel, op in ((1, "nor_conv_1x1"), (3, "nor_conv_3x3")):
        alone = edge.extract(op).train()
        assert alone[1].kernel_size == (kernel, kernel)
        assert torch.allclose(alone(x), edge.train()(x, op), atol=1e-5)


def test_supernet_forward_on_every_op_and_backward():
    net = build("entangled")
    x = torch.randn(2, 3, 16, 16)
    for op in OPS:
        arch = {label: op for label in SPACE.labels}
        out = net(x, arch)
        assert out.shape == (2, 10) and torch.isfinite(out).all()
    net(x, SPACE.parse(MIXED)).sum().backward()


@pytest.mark.parametrize("sampler", ["uniform", "pada"])
def test_trains_through_the_pipeline_with_every_sampler(cifar10_path, tmp_path, sampler):
    config = load_config("smoke", ["supernet.sharing=\"entangled\"", "supernet.channels=4",
                                   "data.train_limit=192", "train.batch_size=64",
                                   f"sampler.name=\"{sampler}\""])
    pipe = api.build(config, progress=False)
    assert isinstance(first_edge(pipe.supernet), EntangledEdge)
    history = pipe.trainer(tmp_path).fit()
    assert history[-1]["step"] == 3 and history[-1]["loss"] > 0


@pytest.mark.parametrize("sharing", ["entangled", "weight_sharing"])
def test_nb201_mixture_one_pass_equals_k_forwards_and_one_hot_equals_single_path(sharing):
    torch.manual_seed(4)
    net = build(sharing)
    x = torch.randn(2, 3, 16, 16)
    arch = SPACE.parse(MIXED)
    for _ in range(2):
        net.train()(x, arch)
    net.eval()
    probs = {label: torch.softmax(torch.randn(len(OPS)), 0) for label in SPACE.labels}
    one, k = net.forward_mixture(x, probs), net.forward_mixture(x, probs, one_pass=False)
    assert torch.allclose(one, k, atol=1e-5)
    one_hot = {label: F.one_hot(torch.tensor(OPS.index(arch[label])), len(OPS)).float()
               for label in SPACE.labels}
    assert torch.allclose(net.forward_mixture(x, one_hot), net(x, arch), atol=1e-5)
