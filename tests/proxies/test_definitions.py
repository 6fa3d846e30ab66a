"""Proxies equal their published definitions on networks small enough to do by hand."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from nasengine.proxies import PROXIES, Probe
from nasengine.families import get_family


def hand_net() -> nn.Module:
    """2 -> 2 -> BN -> ReLU -> 1, weights chosen so signs and BN would matter."""
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.BatchNorm1d(2), nn.ReLU(),
                        nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
        net[1].weight.fill_(5.0)
        net[3].weight.copy_(torch.tensor([[-1.0, 2.0]]))
    return net


def test_synflow_of_a_hand_built_net():
    # |W1| 1 = (3, 3.5); R = |W2| . (3, 3.5) = 1*3 + 2*3.5 = 10, BN removed.
    # dR/dW2 = (3, 3.5) and dR/dW1[k, j] = |W2|_k, so sum |W| * dR/d|W| = 10 + 10 = 20
    batch = (torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    probe = Probe(hand_net, batch, None, (1, 2))
    assert PROXIES.create("synflow").score(probe) == pytest.approx(20.0, rel=1e-12)


def test_grad_norm_of_a_hand_built_net():
    # one 2x2 layer with zero weights: softmax = (1/2, 1/2); x = I, labels (0, 1):
    # dL/dW = (P - Y)^T X / 2 = [[-1/4, 1/4], [1/4, -1/4]], Frobenius norm 1/2.
    # The bias has a gradient too, but the proxy sums conv/linear *weights* only.
    def build():
        layer = nn.Linear(2, 2)
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)
        return layer

    probe = Probe(build, (torch.eye(2), torch.tensor([0, 1])), None, (1, 2))
    assert PROXIES.create("grad_norm").score(probe) == pytest.approx(0.5, rel=1e-6)


def nb201_probe(batch, seed=0):
    family = get_family("nb201")
    arch = family.space().parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
                                "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    return Probe(lambda: family.standalone(arch, channels=4, cells=1), batch, seed,
                 family.input_shape())


def test_naswot_kernel_is_symmetric_psd_and_counts_units(batch):
    probe = nb201_probe(batch)
    kernel = probe.forward.code_kernel.numpy()
    np.testing.assert_array_equal(kernel, kernel.T)
    assert np.linalg.eigvalsh(kernel).min() > -1e-6 * kernel.max()
    assert np.all(np.diag(kernel) == kernel.max())


def naive_code_kernel(net: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Σ over every ReLU of c c^T + (1-c)(1-c)^T, c its binary codes, computed directly."""
    codes = []
    hooks = [m.register_forward_hook(lambda m, i, o: codes.append(
        (o.detach().reshape(len(o), -1) > 0).double())) for m in net.modules()
        if isinstance(m, nn.ReLU)]
    net(x)  # train-mode BN: the same activations as the probe's forward
    for h in hooks:
        h.remove()
    assert codes
    return sum(c @ c.T + (1 - c) @ (1 - c).T for c in codes).numpy()


def test_naswot_kernel_counts_agreeing_codes_of_every_relu_exactly(batch):
    """In this cell node 0 feeds two convs, whose ReLUs share one code term."""
    probe = nb201_probe(batch)
    np.testing.assert_array_equal(probe.forward.code_kernel.numpy(),
                                  naive_code_kernel(probe.net, probe.x))


@pytest.mark.parametrize("widths", [(1, 3), (2, 7), (33, 5)])
def test_naswot_kernel_is_exact_for_relus_of_any_width(widths):
    """ReLUs of 1, 2, 3, 5, 7 and 33 units per image (one unit broke an int8 product)."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip((4, *widths), widths):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    torch.manual_seed(0)
    net = nn.Sequential(*layers)
    probe = Probe(lambda: net, (torch.randn(9, 4), torch.zeros(9, dtype=torch.long)), None,
                  (1, 4))
    np.testing.assert_array_equal(probe.forward.code_kernel.numpy(),
                                  naive_code_kernel(net, probe.x))


def test_aznas_entropies_equal_their_definition(batch):
    probe = nb201_probe(batch)
    total = 0.0
    for feat in probe.forward.features:
        f = feat.detach().double().permute(0, 2, 3, 1).reshape(-1, feat.shape[1])
        f = f - f.mean(0, keepdim=True)
        eig = torch.linalg.eigvalsh(f.T @ f / len(f))
        p = eig / eig.sum()
        total += float((-p * torch.log(p + 1e-8)).sum())
    assert PROXIES.create("expressivity").score(probe) == pytest.approx(total, rel=1e-12)


def test_trainability_in_the_features_layout_stays_within_rounding(batch, monkeypatch):
    """v2 lays the random back-projections out as the features (channels_last); v1 kept
    them contiguous. The same draws, so only float rounding moves."""
    from nasengine.proxies import aznas

    v2 = PROXIES.create("trainability").score(nb201_probe(batch))
    monkeypatch.setattr(aznas, "_is_channels_last", lambda t: False)
    v1 = PROXIES.create("trainability").score(nb201_probe(batch))
    assert v2 == pytest.approx(v1, rel=1e-6) and math.isfinite(v2)


def test_trainability_draws_kept_from_another_arch_give_the_fresh_score(batch):
    from nasengine.proxies import aznas

    family = get_family("nb201")
    other = family.space().parse("|skip_connect~0|+|none~0|avg_pool_3x3~1|"
                                 "+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|")
    trainability = PROXIES.create("trainability")
    aznas.back_projections.cache_clear()
    fresh = trainability.score(nb201_probe(batch))
    trainability.score(Probe(lambda: family.standalone(other, channels=4, cells=1), batch, 0,
                             family.input_shape()))
    assert aznas.back_projections.cache_info().hits == 1
    assert trainability.score(nb201_probe(batch)) == fresh


def test_naswot_does_not_depend_on_batch_order(batch):
    x, y = batch
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(3))
    a = nb201_probe(batch)
    b = nb201_probe((x[perm], y[perm]))
    np.testing.assert_allclose(b.forward.code_kernel.numpy(),
                               a.forward.code_kernel.numpy()[perm][:, perm], rtol=0, atol=1e-6)
    naswot = PROXIES.create("naswot")
    assert naswot.score(b) == pytest.approx(naswot.score(a), rel=1e-9)


def test_synflow_ignores_the_batch_and_grad_norm_does_not(batch):
    x, y = batch
    other = (x * 2 + 1, y)
    for name, same in (("synflow", True), ("grad_norm", False)):
        proxy = PROXIES.create(name)
        a, b = proxy.score(nb201_probe(batch)), proxy.score(nb201_probe(other))
        assert (a == b) is same, name


LIVE = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"


@pytest.mark.parametrize("with_dead_edge", [
    "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",  # fed 0
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",  # unused
])
def test_dead_edges_do_not_change_function_only_proxies(batch, with_dead_edge):
    """Archs with the same canonical arch get the same function-only scores."""
    family = get_family("nb201")
    space = family.space()
    live, dead = space.parse(LIVE), space.parse(with_dead_edge)
    assert family.canonical(dead) == live
    probes = [Probe(lambda a=a: family.standalone(a, channels=4, cells=1), batch, 0,
                    family.input_shape()) for a in (live, dead)]
    for name in PROXIES.names():
        proxy = PROXIES.create(name)
        if getattr(proxy, "function_only", False):
            assert proxy.score(probes[0]) == proxy.score(probes[1]), name
    assert PROXIES.create("params").score(probes[0]) < PROXIES.create("params").score(probes[1])


def test_a_probe_leaves_the_caller_network_untouched(batch):
    net = hand_net()
    before = copy.deepcopy(net.state_dict())
    probe = Probe(lambda: net, (torch.randn(4, 2), torch.zeros(4, dtype=torch.long)), None,
                  (1, 2))
    PROXIES.create("synflow").score(probe)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key])
