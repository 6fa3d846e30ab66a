"""The supernet role's gradient statistics: what each choice of a step's arch trained."""
import pytest
import torch

from nasengine.families import get_family

ARCH = {"1<-0": "nor_conv_3x3", "2<-0": "nor_conv_3x3", "2<-1": "skip_connect",
        "3<-0": "nor_conv_1x1", "3<-1": "none", "3<-2": "avg_pool_3x3"}


def trained(sharing: str):
    torch.manual_seed(0)
    net = get_family("nb201").build_supernet(sharing, channels=4, cells=1)
    net(torch.randn(2, 3, 8, 8), ARCH).square().sum().backward()
    return net


def grad_norm(modules) -> float:
    return sum(float(p.grad.norm()) for m in modules for p in m.parameters() if p.grad is not None)


def test_per_choice_norms_pool_the_decisions_that_chose_it():
    net = trained("weight_sharing")
    norms = net.choice_grad_norms(ARCH)
    assert set(norms) == {"nor_conv_3x3", "nor_conv_1x1"}  # the others train no weights
    for op, modules in net.choice_modules(ARCH).items():
        if op in norms:
            assert float(norms[op]) == pytest.approx(grad_norm(modules), rel=1e-5)
            assert norms[op].dim() == 0  # one sync for all choices, by the caller
    by_edge = net.decision_modules(ARCH)
    two_edges = [m for label in ("1<-0", "2<-0") for m in by_edge[(label, "nor_conv_3x3")]]
    assert float(norms["nor_conv_3x3"]) == pytest.approx(grad_norm(two_edges), rel=1e-5)


def test_per_decision_norms_split_a_pooled_choice_by_edge():
    net = trained("weight_sharing")
    per_edge = net.choice_grad_norms(ARCH, per_decision=True)
    assert set(per_edge) == {("1<-0", "nor_conv_3x3"), ("2<-0", "nor_conv_3x3"),
                             ("3<-0", "nor_conv_1x1")}
    pooled = net.choice_grad_norms(ARCH)["nor_conv_3x3"]
    both = per_edge[("1<-0", "nor_conv_3x3")] + per_edge[("2<-0", "nor_conv_3x3")]
    assert float(both) == pytest.approx(float(pooled), rel=1e-5)
    assert float(per_edge[("1<-0", "nor_conv_3x3")]) != float(per_edge[("2<-0", "nor_conv_3x3")])


def test_entangled_convs_report_their_shared_super_op():
    net = trained("entangled")
    norms = net.choice_grad_norms(ARCH)
    assert float(norms["nor_conv_3x3"]) > 0 and float(norms["nor_conv_1x1"]) > 0


def test_no_gradient_no_norm():
    torch.manual_seed(0)
    net = get_family("nb201").build_supernet(channels=4, cells=1)
    assert net.choice_grad_norms(ARCH) == {}
