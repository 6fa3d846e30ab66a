"""The macro (MobileNetV2/OFA-style) space: entangled supernet, extraction, params/FLOPs."""
import random

import pytest
import torch

from nasengine.complexity import count_params
from nasengine.errors import SpaceError
from nasengine.families import arch_info, get_family
from search_spaces.macro import EntangledMBConv, MacroSpace, MBConv, block_label, depth_label
from search_spaces.macro.model import stage_widths

C = 4
FAMILY = get_family("macro")
SPACE = FAMILY.space()


def small_arch() -> dict:
    arch = {label: min(d.values) for label, d in SPACE.decisions.items()}
    return arch


def test_space_shape_and_labels():
    assert len(SPACE.labels) == 4 * (1 + 2 * 4)
    assert SPACE.labels[:3] == ["s0.depth", "s0.b0.kernel", "s0.b0.expand"]
    assert len(SPACE) == 3 ** 36
    arch = SPACE.sample(random.Random(0))
    assert SPACE.parse(SPACE.format(arch)) == arch


def test_supernet_memory_is_that_of_the_largest_subnet():
    ent = FAMILY.build_supernet("entangled", channels=C)
    ws = FAMILY.build_supernet("weight_sharing", channels=C)
    assert count_params(ent) == FAMILY.complexity(SPACE.largest(), channels=C)["params"]
    assert count_params(ws) > 4 * count_params(ent)


def test_mbconv_params_match_an_independent_count():
    c_in, c_out, k, e = 4, 6, 5, 3
    h = c_in * e
    expected = c_in * h + 2 * h + h * k * k + 2 * h + h * c_out + 2 * c_out
    assert count_params(MBConv(c_in, c_out, k, e, stride=2)) == expected


def test_complexity_grows_with_every_decision():
    base = small_arch()
    info = FAMILY.complexity(base, channels=C)
    for label, value in (("s1.depth", 3), ("s1.b0.kernel", 7), ("s1.b0.expand", 6)):
        bigger = FAMILY.complexity({**base, label: value}, channels=C)
        assert bigger["params"] > info["params"] and bigger["flops"] > info["flops"], label
    # an inert block (past its stage's depth) changes nothing
    assert FAMILY.complexity({**base, "s1.b3.kernel": 7}, channels=C) == info
    assert arch_info(base, FAMILY, channels=C)["params"] == info["params"]


def test_extracted_standalone_computes_the_supernet_path():
    torch.manual_seed(0)
    net = FAMILY.build_supernet("entangled", channels=C)
    rng = random.Random(1)
    x = torch.randn(4, 3, 32, 32)
    for _ in range(3):
        arch = SPACE.sample(rng)
        net.train()(x, arch)  # move the running statistics
        alone = net.extract(arch)
        assert count_params(alone) == FAMILY.complexity(arch, channels=C)["params"]
        for mode in (True, False):
            assert torch.allclose(alone.train(mode)(x), net.train(mode)(x, arch), atol=1e-4)


def test_extracted_standalone_of_a_weight_sharing_supernet_too():
    torch.manual_seed(1)
    net = FAMILY.build_supernet("weight_sharing", channels=C).eval()
    arch = SPACE.sample(random.Random(2))
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(net.extract(arch).eval()(x), net(x, arch), atol=1e-5)


def test_canonical_arch_computes_the_same_function():
    torch.manual_seed(2)
    net = FAMILY.build_supernet("entangled", channels=C).eval()
    arch = {**small_arch(), "s2.b3.kernel": 7, "s2.b2.expand": 6}
    canon = net.canonical(arch)
    assert canon != arch and canon == small_arch()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(net(x, arch), net(x, canon))


def test_block_width_mixture_in_one_pass_equals_k_forwards_with_eval_bn():
    """With the kernel fixed, mixing the expansion is exact before an eval-mode BN."""
    torch.manual_seed(3)
    block = EntangledMBConv(4, 4, 1, (3, 5), (2, 3, 4))
    x = torch.randn(2, 4, 8, 8)
    for e in (2, 3, 4):
        block(x, 5, e)
    block.eval()
    q = torch.softmax(torch.randn(3), 0)
    configs = [{"kernel": 5, "expand": e} for e in (2, 3, 4)]
    one = block.forward_mixture(x, configs, q)
    assert torch.allclose(one, sum(w * block(x, 5, e) for w, e in zip(q, (2, 3, 4))), atol=1e-5)


@pytest.mark.parametrize("sharing", ["entangled", "weight_sharing"])
def test_mixture_forward_one_pass_and_k_forward_both_train(sharing):
    torch.manual_seed(4)
    net = FAMILY.build_supernet(sharing, channels=C)
    alphas = {label: torch.zeros(len(d.values), requires_grad=True)
              for label, d in SPACE.decisions.items()}
    x = torch.randn(2, 3, 32, 32)
    for one_pass in (True, False):
        probs = {k: torch.softmax(v, 0) for k, v in alphas.items()}
        net.forward_mixture(x, probs, one_pass=one_pass).logsumexp(1).sum().backward()
        assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas.values())


def test_one_hot_mixture_equals_the_single_path():
    torch.manual_seed(5)
    net = FAMILY.build_supernet("entangled", channels=C).eval()
    arch = SPACE.sample(random.Random(3))
    one_hot = {label: torch.nn.functional.one_hot(torch.tensor(d.index(arch[label])),
                                                  len(d.values)).float()
               for label, d in SPACE.decisions.items()}
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(net.forward_mixture(x, one_hot), net(x, arch), atol=1e-5)


def test_bad_configs_raise_clear_errors():
    block = EntangledMBConv(4, 4, 1, (3, 5), (2, 3))
    with pytest.raises(SpaceError, match=r"expansion ratio 6 is not a choice.*\[2, 3\]"):
        block(torch.randn(1, 4, 5, 5), 3, 6)
    with pytest.raises(SpaceError, match=r"kernel 7 is not a choice"):
        block(torch.randn(1, 4, 5, 5), 7, 2)
    net = FAMILY.build_supernet("entangled", channels=C)
    with pytest.raises(SpaceError, match="not a choice of 's0.depth'"):
        net.extract({**small_arch(), depth_label(0): 5})
    with pytest.raises(SpaceError, match="decision 's0.depth' must be a vector of 3.*got nothing"):
        net.forward_mixture(torch.randn(1, 3, 32, 32), {})
    wrong = {label: torch.ones(2) / 2 for label in SPACE.labels}
    with pytest.raises(SpaceError, match=r"got shape \(2,\)"):
        net.forward_mixture(torch.randn(1, 3, 32, 32), wrong)
    with pytest.raises(SpaceError, match="depths >= 1"):
        MacroSpace(depths=(0, 1))


def test_widths_scale_with_channels():
    assert stage_widths(16) == [24, 32, 64, 96]
    assert block_label(1, 2, "kernel") == "s1.b2.kernel"


@pytest.mark.parametrize("sampler", ["uniform", "pada"])
def test_macro_trains_through_the_pipeline(cifar10_path, tmp_path, sampler):
    from nasengine import api
    from nasengine.config import load_config

    config = load_config("smoke", ['supernet.space="macro"', 'supernet.sharing="entangled"',
                                   "supernet.channels=2", "data.train_limit=128",
                                   "train.batch_size=64", f'sampler.name="{sampler}"'])
    trainer = api.build(config, progress=False).trainer(tmp_path)
    if sampler == "pada":  # no per-choice modules under entanglement: said, not silent
        with pytest.warns(UserWarning, match="path importance is inactive"):
            history = trainer.fit()
    else:
        history = trainer.fit()
    assert history[-1]["step"] == 2 and history[-1]["loss"] > 0


def test_pada_runs_end_to_end_on_macro_and_plots_its_distributions(cifar10_path, tmp_path):
    """Decisions with different choice sets (depth, kernel, expand) are plotted apart."""
    from nasengine import api
    from nasengine.config import load_config

    config = load_config("smoke", ['supernet.space="macro"', "supernet.channels=2",
                                   "data.train_limit=128", "train.batch_size=64",
                                   "train.epochs=2", 'sampler.name="pada"'])
    with pytest.warns(UserWarning, match="path importance is inactive"):
        pipe = api.train(config, tmp_path, progress=False)
    assert pipe.sampler.path_granularity == "edge"
    assert (tmp_path / "sampling.png").stat().st_size > 0
