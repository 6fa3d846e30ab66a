import gzip
import csv
import random

import pytest
import torch

from nasengine.errors import SpaceError
from nasengine.families import arch_info, get_family
from search_spaces.nb201 import LABELS, OPS, NB201Space

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
INDEX0 = ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|"
          "skip_connect~2|")


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space()


def test_space_shape(space):
    assert len(space) == len(OPS) ** 6 == 15625 and space.labels == list(LABELS)
    # each label is the edge "target<-source" that the official string places the op on
    assert space.parse(INDEX0) == {"1<-0": "avg_pool_3x3", "2<-0": "nor_conv_1x1",
                                   "2<-1": "skip_connect", "3<-0": "nor_conv_1x1",
                                   "3<-1": "skip_connect", "3<-2": "skip_connect"}


def test_arch_string_round_trip_over_whole_space(space):
    strings = {space.format(a) for a in space.enumerate()}
    assert len(strings) == 15625
    for text in strings:
        assert space.format(space.parse(text)) == text


def test_official_strings_from_the_table_parse(space, nb201_table_path):
    with gzip.open(nb201_table_path, "rt") as f:
        rows = list(csv.DictReader(f))
    ours = {space.format(a) for a in space.enumerate()}
    assert {r["arch"] for r in rows} == ours
    assert rows[0]["arch"] == INDEX0 and space.format(space.parse(INDEX0)) == INDEX0


@pytest.mark.parametrize("text, match", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "node groups"),
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "needs 2"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "expected 'op~0'"),
    ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "malformed node group"),
])
def test_malformed_arch_strings_name_the_problem(space, text, match):
    with pytest.raises(SpaceError, match=match):
        space.parse(text)


def test_arch_outside_a_restricted_space_is_rejected(space):
    sub = space.restrict("1<-0", ["nor_conv_3x3"])
    with pytest.raises(SpaceError, match="not a choice"):
        sub.parse(ALL_NONE)


@pytest.mark.parametrize("arch, params, flops", [(ALL_CONV, 1531546, 220119690),
                                                 (ALL_NONE, 73306, 7783050),
                                                 (INDEX0, 129306, 15647370)])
def test_complexity_matches_nb201(space, arch, params, flops):
    info = arch_info(space.parse(arch), get_family("nb201"))
    assert (info["params"], info["flops"]) == (params, flops)


def test_complexity_matches_the_table_at_official_size(space, nb201_table_path):
    with gzip.open(nb201_table_path, "rt") as f:
        rows = list(csv.DictReader(f))
    family = get_family("nb201")
    for row in random.Random(0).sample(rows, 8):
        info = family.complexity(space.parse(row["arch"]))
        assert info["params"] / 1e6 == pytest.approx(float(row["params_M_cifar10"]), abs=1e-6)
        assert info["flops"] / 1e6 == pytest.approx(float(row["flops_M_cifar10"]), abs=1e-5)


def test_supernet_counts_equal_standalone_at_any_size(space):
    """The supernet path and the standalone net hold the same conv weights per edge."""
    family = get_family("nb201")
    arch = space.parse(INDEX0)
    small = family.standalone(arch, channels=8, cells=2, num_classes=100)
    # independent count: stem, 2 reductions, head + per-cell ops
    c = 8
    conv1x1 = lambda ch: ch * ch + 2 * ch  # conv + affine BN
    cells = sum(2 * conv1x1(w) for w in (c, 2 * c, 4 * c)) * 2
    stem = 3 * 9 * c + 2 * c
    red = lambda ci, co: ci * co * 9 + 2 * co + co * co * 9 + 2 * co + ci * co
    head = 2 * 4 * c + 4 * c * 100 + 100
    expected = stem + cells + red(c, 2 * c) + red(2 * c, 4 * c) + head
    assert sum(p.numel() for p in small.parameters()) == expected


def test_supernet_forward_shapes_and_op_modules(space):
    family = get_family("nb201")
    net = family.build_supernet(channels=4, cells=1)
    x = torch.randn(2, 3, 32, 32)
    arch = space.parse(INDEX0)
    assert net(x, arch).shape == (2, 10)
    used = net.choice_modules(arch)
    assert set(used) == {"avg_pool_3x3", "nor_conv_1x1", "skip_connect"}
    assert len(used["nor_conv_1x1"]) == 2 * 3  # two edges x three cells


def test_zero_input_pruning_is_exact_in_the_supernet(space):
    """Skipping edges fed by an all-zero node must not change the supernet output."""
    family = get_family("nb201")
    torch.manual_seed(0)
    net = family.build_supernet(channels=4, cells=1).eval()
    x = torch.randn(4, 3, 32, 32)
    arch = space.parse("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    pruned = net(x, arch)
    for cell in [m for m in net.modules() if hasattr(m, "skip_zero_inputs")]:
        cell.skip_zero_inputs = False
    assert torch.allclose(pruned, net(x, arch), atol=1e-5)


def test_all_ops_registered():
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def test_canonical_form_never_merges_different_functions(space):
    """Every arch computes exactly what its effective arch computes (random weights)."""
    from search_spaces.nb201.graph import effective_arch

    family = get_family("nb201")
    torch.manual_seed(1)
    net = family.build_supernet(channels=4, cells=1)
    for m in net.modules():  # make every op non-trivial
        if isinstance(m, torch.nn.BatchNorm2d) and m.affine:
            torch.nn.init.normal_(m.weight)
    net.train()  # batch statistics
    x = torch.randn(6, 3, 32, 32)
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(60)]
    archs.append(space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|"))
    with torch.no_grad():
        for arch in archs:
            canon = effective_arch(arch)
            assert net.canonical(arch) == canon
            assert torch.allclose(net(x, arch), net(x, canon), atol=1e-5), space.format(arch)
    # and distinct canonical forms do compute different functions
    with torch.no_grad():
        outs = {tuple(effective_arch(a).values()): net(x, a) for a in archs}
    values = list(outs.values())
    assert all(not torch.allclose(values[i], values[j]) for i in range(len(values))
               for j in range(i))


def test_effective_arch_class_counts(space):
    from search_spaces.nb201.graph import effective_arch, is_disconnected

    classes = {tuple(effective_arch(a).values()) for a in space.enumerate()}
    assert len(classes) == 9445
    assert sum(is_disconnected(a) for a in space.enumerate()) == 341
    dead = space.parse("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|")
    assert effective_arch(dead) == space.parse(
        "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")


@pytest.mark.parametrize("kernel,stride,padding", [(3, 1, 1), (2, 2, 0)])
@pytest.mark.parametrize("channels_last", [True, False])
def test_box_average_equals_avg_pool_values_and_gradients(kernel, stride, padding, channels_last):
    """The fast pooling (depthwise box-sum) is NB201's avg pool, forward and backward."""
    from torch import nn

    from search_spaces.nb201.ops import BoxAverage

    x = torch.randn(4, 8, 16, 16)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x_ref = x.detach().clone().requires_grad_()
    x = x.detach().clone().requires_grad_()
    ref = nn.AvgPool2d(kernel, stride, padding, count_include_pad=False)(x_ref)
    pool = BoxAverage(kernel, stride, padding)
    with torch.inference_mode():  # constants cached in inference mode must not break autograd
        torch.testing.assert_close(pool(x.detach()), ref.detach())
    out = pool(x)
    torch.testing.assert_close(out, ref)
    grad = torch.randn_like(ref)
    ref.backward(grad)
    out.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_nni_round_trip_keeps_the_nb201_arch_format():
    from search_spaces.nb201 import NB201Space

    space = NB201Space()
    back = NB201Space.from_nni(space.to_nni())
    arch = space.decode(9504)
    assert isinstance(back, NB201Space) and back.format(arch) == space.format(arch)
    assert back.format(arch).startswith("|nor_conv_3x3~0|")
    from nasengine.errors import SpaceError
    from nasengine.space import Categorical, SearchSpace

    with pytest.raises(SpaceError, match="does not have the decisions of NB201Space"):
        NB201Space.from_nni(SearchSpace([Categorical("x", (1, 2))]).to_nni())
