"""The builder: a plain nn.Module with choices becomes a space, supernets and stand-alone nets."""
import pytest
import torch
from torch import nn

from nasengine import builder as nb
from nasengine.complexity import count_params
from nasengine.errors import ConfigError, SpaceError
from nasengine.families import get_family

torch.set_num_threads(1)
TINY = "examples.tiny_cnn:TinyCNN"


class Cell(nn.Module):
    """A layer choice inside a repeated block, a derived width and a choice linear."""

    input_shape = (1, 3, 8, 8)

    def __init__(self, channels: int = 4, num_classes: int = 3):
        super().__init__()
        width = nb.Choice("width", (1, 2)).map(lambda m: channels * m)
        self.stem = nb.Conv2d(3, width, 3)
        self.body = nb.Repeat(lambda i: nb.LayerChoice(
            {"conv": nb.Conv2d(width, width, nb.Choice(f"b{i}.kernel", (1, 3))),
             "pool": nn.AvgPool2d(3, 1, 1)}, label=f"b{i}.op"), nb.Choice("depth", (1, 2)))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nb.Linear(width, num_classes))

    def forward(self, x):
        return self.head(self.body(self.stem(x)))


def test_the_space_is_the_choices_in_order_of_use():
    space = get_family(TINY).space()
    assert len(space) == 512 and space.labels[:3] == ["s0.depth", "s0.width", "s0.kernel"]
    cell = nb.BuilderFamily(Cell).space()
    assert cell.labels == ["width", "depth", "b0.kernel", "b0.op", "b1.kernel", "b1.op"]
    assert cell.decisions["b0.op"].values == ("conv", "pool")


@pytest.mark.parametrize("sharing", ["weight_sharing", "entangled"])
def test_standalone_nets_are_plain_pytorch_and_equal_the_supernet_path(sharing):
    family = nb.BuilderFamily(Cell)
    net = family.build_supernet(sharing, channels=4)
    x = torch.randn(5, 3, 8, 8)
    net.train()
    for i in range(len(family.space())):
        net(x, family.space().decode(i))  # moves BN statistics too, where there are any
    net.eval()
    for i in range(len(family.space())):
        arch = family.space().decode(i)
        plain = family.standalone(arch, channels=4)
        assert not any(type(m).__module__.startswith("nasengine.builder")
                       for m in plain.modules())
        assert count_params(plain) == net.path(arch, count=True).params
        assert torch.allclose(net.extract(arch).eval()(x), net(x, arch), atol=1e-6)


def test_entangled_widths_and_kernels_are_slices_of_one_largest_weight():
    family = get_family(TINY)
    net = family.build_supernet("entangled", channels=8)
    largest = {k: max(d.values) for k, d in family.space().decisions.items()}
    assert count_params(net) == family.complexity(largest, channels=8)["params"]
    small = {**largest, "s0.kernel": 3, "s0.width": 0.5}
    net(torch.randn(2, 3, 32, 32), small).sum().backward()
    conv = net.model.features[0].blocks[0][0].edge.shared["Conv2d"]
    assert conv.weight.shape == (8, 3, 5, 5)
    touched = conv.weight.grad.abs() > 0
    assert touched[:4, :, 1:4, 1:4].all() and touched.sum() == 4 * 3 * 3 * 3


@pytest.fixture
def cell():
    """The weight-sharing supernet of :class:`Cell`."""
    return nb.BuilderFamily(Cell).build_supernet(channels=4)


def test_depth_is_a_prefix_and_unread_decisions_are_canonicalised(cell):
    net = cell
    arch = {"width": 2, "depth": 1, "b0.kernel": 3, "b0.op": "conv", "b1.kernel": 3,
            "b1.op": "conv"}
    canonical = net.canonical(arch)
    assert canonical == {**arch, "b1.kernel": 1, "b1.op": "conv"}
    x = torch.randn(2, 3, 8, 8)
    net.eval()
    assert torch.equal(net(x, arch), net(x, canonical))
    assert net.canonical({**arch, "b0.op": "pool"})["b0.kernel"] == 1  # unread inside "pool"


def test_choice_modules_name_what_each_choice_trains(cell):
    net = cell
    arch = {"width": 1, "depth": 2, "b0.kernel": 3, "b0.op": "conv", "b1.kernel": 1,
            "b1.op": "pool"}
    modules = net.choice_modules(arch)
    assert set(modules) == {1, 2, 3, "conv", "pool"}
    assert net.model.body.blocks[1] in modules[2]  # the block depth 2 adds


def test_complexity_counts_the_plain_network():
    family = get_family(TINY)
    arch = family.space().decode(0)
    info = family.complexity(arch, channels=16)
    assert info["params"] == count_params(family.standalone(arch, channels=16)) == 6418
    assert info["flops"] > 0


def test_nni_export_round_trips():
    space = get_family(TINY).space()
    nni_space = space.to_nni()
    sample = nni_space.random(random_state=None)
    assert space.contains(sample)
    assert space.parse(space.format(sample)) == space.validate(sample)


# -- loud failures -----------------------------------------------------------------------
def _family(body):
    class Net(nn.Module):
        input_shape = (1, 3, 8, 8)

        def __init__(self):
            super().__init__()
            self.body = body()

        def forward(self, x):
            return self.body(x)

    return nb.BuilderFamily(Net, name="bad")


def test_a_module_with_no_decisions_is_refused():
    with pytest.raises(SpaceError, match="declares no decisions"):
        _family(lambda: nb.Conv2d(3, 4, 3)).space()


def test_an_empty_choice_is_refused():
    with pytest.raises(SpaceError, match="'k' has no choices"):
        nb.Choice("k", ())


def test_a_label_reused_with_other_values_is_refused():
    body = lambda: nn.Sequential(nb.Conv2d(3, 4, nb.Choice("k", (1, 3))),  # noqa: E731
                                 nb.Conv2d(4, 4, nb.Choice("k", (3, 5))))
    with pytest.raises(SpaceError, match="duplicate label 'k'"):
        _family(body).space()


def test_layer_choice_candidates_with_different_output_shapes_are_found_at_build_time():
    body = lambda: nb.LayerChoice([nn.Conv2d(3, 4, 3, padding=1),  # noqa: E731
                                   nn.Conv2d(3, 4, 3, stride=2, padding=1)], label="op")
    with pytest.raises(SpaceError, match=r"layer choice 'op' disagree.*\(2, 4, 8, 8\).*"
                                         r"\(2, 4, 4, 4\)"):
        _family(body).build_supernet()


def test_widths_that_do_not_chain_are_found_at_build_time():
    body = lambda: nn.Sequential(nb.Conv2d(3, nb.Choice("w", (4, 8)), 3),  # noqa: E731
                                 nb.Conv2d(8, 4, 3))
    with pytest.raises(SpaceError, match="dummy forward .* failed in layer 'body.1' .*8 channels"):
        _family(body).build_supernet("entangled")


def test_entangled_on_a_space_with_nothing_to_slice_is_refused():
    body = lambda: nb.LayerChoice([nn.Identity(), nn.ReLU()], label="act")  # noqa: E731
    with pytest.raises(SpaceError, match="nothing to slice"):
        _family(body).build_supernet("entangled")


def test_unexpected_options_are_config_errors():
    with pytest.raises(ConfigError, match=r"does not take option\(s\) \['cells'\]"):
        get_family(TINY).build_supernet(channels=4, cells=3)


def test_choice_names_torch_cannot_hold_are_refused():
    body = lambda: nb.LayerChoice({"a.b": nn.Identity(), "c": nn.ReLU()}, label="op")  # noqa: E731
    with pytest.raises(SpaceError, match="'a.b' contains '.'"):
        _family(body).build_supernet()


def test_depths_must_be_positive_integers():
    with pytest.raises(SpaceError, match="depths must be integers >= 1"):
        _family(lambda: nb.Repeat(lambda i: nn.Identity(), nb.Choice("d", (0, 1)))).space()
