"""Entangled ops: slices are views, one-pass mixtures equal K forwards, extraction is exact."""
import pytest
import torch
import torch.nn.functional as F

from nasengine.errors import SpaceError
from nasengine.supernet import (SHARING, EntangledBatchNorm2d, EntangledConv2d, EntangledLinear,
                                depth_mixture, elastic_depth, kernel_mask, width_mask)


def pad_channels(y: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(y, (0, 0, 0, 0, 0, width - y.shape[1]))


def test_slice_is_a_view_of_the_super_weight():
    conv = EntangledConv2d(4, 6, (3, 5, 7))
    part = conv.weight_slice(3, 2, 4)
    assert part.shape == (4, 2, 3, 3)
    assert part.untyped_storage().data_ptr() == conv.weight.untyped_storage().data_ptr()
    assert torch.equal(part, conv.weight[:4, :2, 2:5, 2:5])
    with torch.no_grad():
        part.fill_(7.0)  # writing through the view writes the shared core
    assert (conv.weight[:4, :2, 2:5, 2:5] == 7.0).all()


def test_gradient_of_a_small_choice_lands_in_the_shared_core_only():
    torch.manual_seed(0)
    conv = EntangledConv2d(4, 6, (3, 5, 7))
    conv(torch.randn(2, 2, 8, 8), kernel=3, out_channels=4).square().sum().backward()
    grad = conv.weight.grad
    core = torch.zeros_like(grad, dtype=torch.bool)
    core[:4, :2, 2:5, 2:5] = True
    assert (grad[core] != 0).all()
    assert (grad[~core] == 0).all()


def test_depthwise_single_path_equals_a_plain_depthwise_conv():
    torch.manual_seed(1)
    conv = EntangledConv2d(8, 8, (3, 5), stride=2, depthwise=True)
    x = torch.randn(2, 5, 9, 9)
    ref = F.conv2d(x, conv.weight[:5, :, 1:4, 1:4], stride=2, padding=1, groups=5)
    assert torch.allclose(conv(x, kernel=3), ref, atol=1e-6)


@pytest.mark.parametrize("depthwise, stride", [(False, 1), (False, 2), (True, 1), (True, 2)])
def test_one_pass_mixture_equals_weighted_sum_of_k_forwards(depthwise, stride):
    """sum_{k,w} p_k q_w pad(conv_{k,w}(x)) == one conv with the mixed weight, masked."""
    torch.manual_seed(2)
    c = 6
    conv = EntangledConv2d(c, c, (1, 3, 5), stride, depthwise=depthwise)
    x = torch.randn(3, c, 7, 7)
    p = torch.softmax(torch.randn(3), 0)
    widths = (2, 4, 6) if not depthwise else (6,)
    q = torch.softmax(torch.randn(len(widths)), 0)
    explicit = sum(p[i] * q[j] * pad_channels(conv(x, k, None if depthwise else w), c)
                   for i, k in enumerate(conv.kernels) for j, w in enumerate(widths))
    one_pass = conv.forward_mixture(x, p, widths, q)
    assert torch.allclose(one_pass, explicit, atol=1e-5)


def test_mixture_gradients_equal_those_of_k_forwards():
    torch.manual_seed(3)
    conv = EntangledConv2d(3, 4, (3, 5))
    x = torch.randn(2, 3, 6, 6)
    alpha = torch.randn(2, requires_grad=True)

    def grads(loss):
        conv.zero_grad()
        alpha.grad = None
        loss.backward()
        return conv.weight.grad.clone(), alpha.grad.clone()

    p = torch.softmax(alpha, 0)
    one = grads(conv.forward_mixture(x, p).square().sum())
    p = torch.softmax(alpha, 0)
    many = grads(sum(p[i] * conv(x, k) for i, k in enumerate(conv.kernels)).square().sum())
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(one, many))


def test_kernel_and_width_masks():
    mask = kernel_mask((1, 3), torch.tensor([0.25, 0.75]))
    assert torch.allclose(mask, torch.tensor([[0.75, 0.75, 0.75], [0.75, 1.0, 0.75],
                                              [0.75, 0.75, 0.75]]))
    assert torch.allclose(width_mask((1, 3), torch.tensor([0.4, 0.6]), 4),
                          torch.tensor([1.0, 0.6, 0.6, 0.0]))


def test_entangled_linear_slices_mixes_and_extracts():
    torch.manual_seed(4)
    layer = EntangledLinear(8, 6)
    x = torch.randn(5, 3)
    out = layer(x, out_features=4)
    assert torch.allclose(out, x @ layer.weight[:4, :3].T + layer.bias[:4], atol=1e-6)
    assert torch.allclose(layer.extract(3, 4)(x), out, atol=1e-6)
    q = torch.tensor([0.3, 0.7])
    full = torch.randn(5, 8)
    explicit = sum(w * F.pad(layer(full, n), (0, 6 - n)) for w, n in zip(q, (2, 6)))
    assert torch.allclose(layer.forward_mixture(full, (2, 6), q), explicit, atol=1e-6)


def test_extracted_conv_and_bn_compute_the_supernet_path():
    torch.manual_seed(5)
    conv = EntangledConv2d(6, 8, (3, 5, 7), stride=2)
    bn = EntangledBatchNorm2d(8)
    x = torch.randn(4, 5, 9, 9)
    for _ in range(3):  # non-trivial running statistics
        bn(conv(x, 5, 6))
    bn.eval()
    path = bn(conv(x, 5, 6))
    small_conv, small_bn = conv.extract(5, 5, 6), bn.extract(6).eval()
    assert (small_conv.kernel_size, small_conv.in_channels, small_bn.num_features) == ((5, 5), 5, 6)
    assert torch.allclose(small_bn(small_conv(x)), path, atol=1e-5)
    with torch.no_grad():
        conv.weight.zero_()  # a copy, not a view: the extracted conv keeps its weights
    assert torch.allclose(small_bn(small_conv(x)), path, atol=1e-5)


def test_sliced_bn_updates_only_the_leading_running_statistics():
    bn = EntangledBatchNorm2d(6)
    bn(torch.randn(8, 3, 4, 4) + 5.0)
    assert (bn.running_mean[:3] > 0.1).all() and (bn.running_mean[3:] == 0).all()
    assert int(bn.num_batches_tracked) == 1


@pytest.mark.parametrize("call, match", [
    (lambda c: c(torch.randn(1, 2, 5, 5), kernel=4), r"kernel 4 is not a choice.*\[3, 5\]"),
    (lambda c: c(torch.randn(1, 2, 5, 5), out_channels=9), r"output width 9 is outside 1..6"),
    (lambda c: c(torch.randn(1, 5, 5, 5)), r"input width 5 is outside 1..4"),
    (lambda c: c.extract(7, 2, 2), r"kernel 7 is not a choice"),
])
def test_bad_configs_raise_clear_errors(call, match):
    with pytest.raises(SpaceError, match=match):
        call(EntangledConv2d(4, 6, (3, 5)))


@pytest.mark.parametrize("build, match", [
    (lambda: EntangledConv2d(4, 4, (2, 3)), "must be odd"),
    (lambda: EntangledConv2d(4, 6, (3,), depthwise=True), "depthwise conv maps C to C"),
    (lambda: EntangledLinear(4, 4).weight_slice(5, 2), "input features 5 outside 1..4"),
    (lambda: EntangledBatchNorm2d(4)(torch.randn(2, 6, 3, 3)), "input width 6 is above"),
    (lambda: EntangledConv2d(4, 4, (3,)).forward_mixture(torch.randn(1, 4, 3, 3), None, (2, 8),
                                                        torch.ones(2) / 2), "choice 8 is above"),
    (lambda: EntangledConv2d(4, 4, (3,)).forward_mixture(torch.randn(1, 2, 3, 3)),
     "mixture forward runs at full width"),
])
def test_bad_constructions_raise_clear_errors(build, match):
    with pytest.raises(SpaceError, match=match):
        build()


def test_elastic_depth_and_its_mixture():
    blocks = [lambda x, i=i: x * (i + 2) for i in range(4)]  # x2, x3, x4, x5
    x = torch.ones(1)
    assert elastic_depth(blocks, x, 2).item() == 6
    mix = depth_mixture(blocks, x, (1, 3), torch.tensor([0.5, 0.5]))
    assert mix.item() == pytest.approx(0.5 * 2 + 0.5 * 24)
    with pytest.raises(SpaceError, match="depth 5 is outside 1..4"):
        elastic_depth(blocks, x, 5)
    with pytest.raises(SpaceError, match="depth choice 6 is above"):
        depth_mixture(blocks, x, (2, 6), torch.ones(2) / 2)


def test_entangled_is_a_registered_sharing_mechanism():
    assert {"entangled", "weight_sharing"} <= set(SHARING.names())


def test_mixture_forward_falls_back_to_k_forwards_on_weight_sharing_edges():
    from search_spaces.nb201.model import op_choices

    torch.manual_seed(6)
    edge = SHARING.get("weight_sharing")(op_choices(4, ("skip_connect", "nor_conv_1x1"), False))
    x = torch.randn(2, 4, 5, 5)
    w = {"skip_connect": torch.tensor(0.3), "nor_conv_1x1": torch.tensor(0.7)}
    expected = 0.3 * x + 0.7 * edge(x, "nor_conv_1x1")
    assert torch.allclose(edge.forward_mixture(x, w), expected, atol=1e-6)


def test_marginal_recovers_per_field_weights_of_a_product():
    from nasengine.supernet.masks import marginal

    p_k, p_e = torch.tensor([0.2, 0.8]), torch.tensor([0.1, 0.3, 0.6])
    configs = [{"kernel": k, "expand": e} for k in (3, 5) for e in (2, 3, 4)]
    joint = torch.stack([p_k[i] * p_e[j] for i in range(2) for j in range(3)])
    assert torch.allclose(marginal(configs, joint, "kernel", (3, 5)), p_k)
    assert torch.allclose(marginal(configs, joint, "expand", (2, 3, 4)), p_e)
    with pytest.raises(SpaceError, match=r"kernel 5 is not a choice.*\[3\]"):
        marginal(configs, joint, "kernel", (3,))
