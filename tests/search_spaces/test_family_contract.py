"""Contract every registered space family honours (add a space: it is tested here).

Bundled and plugin families (entry points) are found by name; the worked example of the
README is added by its ``module:Factory`` path.
"""
import importlib.util
import random

import pytest
import torch

from nasengine import api
from nasengine.complexity import count_params
from nasengine.config import EvalConfig, FewShotConfig, load_config
from nasengine.errors import ConfigError
from nasengine.fewshot import FewShotSupernet, similarities
from nasengine.supernet.base import has_choice_modules
from nasengine.families import get_family, space_names
from nasengine.train import read_metrics

torch.set_num_threads(1)
EXAMPLES = ["examples.tiny_cnn:TinyCNN"] + (  # NNI's NAS modules import pytorch-lightning
    ["examples.nni_cnn:NNICNN"] if importlib.util.find_spec("pytorch_lightning") else [])
FAMILIES = space_names() + EXAMPLES
SMALL = {"channels": 2, "cells": 1, "num_classes": 10}


@pytest.fixture(params=FAMILIES)
def name(request):
    return request.param


def small(family):
    known = family.options()
    return {k: v for k, v in SMALL.items() if known is None or k in known}


def build(name, sharing="weight_sharing"):
    family = get_family(name)
    torch.manual_seed(0)
    return family, family.build_supernet(sharing, **small(family))


def batch(family, n=4):
    shape = family.input_shape(**small(family))[1:]
    return torch.randn(n, *shape), torch.randint(0, SMALL["num_classes"], (n,))


@pytest.mark.parametrize("sharing", ["weight_sharing", "entangled"])
def test_supernet_builds_and_runs_every_arch_it_samples(name, sharing):
    family, net = build(name, sharing)
    x, _ = batch(family)
    rng = random.Random(0)
    for _ in range(3):
        arch = net.space.sample(rng)
        assert net(x, arch).shape == (4, SMALL["num_classes"])
        assert net.canonical(arch) == net.space.validate(net.canonical(arch))


@pytest.mark.parametrize("sharing", ["weight_sharing", "entangled"])
def test_standalone_is_the_supernet_path_with_its_weights(name, sharing):
    """``extract(arch)``: the stand-alone net holding the supernet's weights computes the same
    function, and has the parameter count that complexity reports."""
    family, net = build(name, sharing)
    if not hasattr(net, "extract"):
        pytest.skip(f"{name}'s supernet has no extract (NB201: cell BNs are affine only in "
                    "stand-alone nets, by the benchmark's convention)")
    x, _ = batch(family)
    rng = random.Random(1)
    net.train()
    for _ in range(3):
        net(x, net.space.sample(rng))  # BN statistics away from their init
    net.eval()
    for _ in range(3):
        arch = net.space.sample(rng)
        plain = net.extract(arch).eval()
        assert count_params(plain) == count_params(family.standalone(arch, **small(family)))
        assert count_params(plain) == family.complexity(arch, **small(family))["params"]
        assert torch.allclose(plain(x), net(x, arch), atol=1e-5)


def test_path_sampling_and_gradient_matching_work_or_refuse_loudly(name):
    family, net = build(name)
    x, y = batch(family)
    fewshot = FewShotConfig(strategy="gm", options={"batches": 1})
    if not has_choice_modules(net):  # said before training, never a silent all-shared GM
        with pytest.raises(ConfigError, match="names none"):
            FewShotSupernet.from_config(net, fewshot, epochs=3)
        return
    FewShotSupernet.from_config(net, fewshot, epochs=3)
    decision = next(d for d, dec in net.space.decisions.items() if len(dec.values) > 1)
    sims = similarities(net, [decision], [(x, y)], random.Random(0))[decision]
    k = len(net.space.decisions[decision].values)
    assert sims.shape == (k, k) and torch.isfinite(sims).all()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PA&DA path importance is inactive")
def test_pada_training_resumes_exactly_and_ranks_without_a_ground_truth(name, cifar10_path,
                                                                       tmp_path):
    config = load_config("smoke", [f'supernet.space="{name}"', "supernet.channels=2",
                                   "data.train_limit=128", "train.batch_size=64",
                                   "train.epochs=2", 'sampler.name="pada"'])
    full = api.train(config, tmp_path / "full", progress=False)
    cut = api.build(config, progress=False)
    cut.trainer(tmp_path / "cut").fit(stop_after=1)
    resumed = api.train(config, tmp_path / "cut", resume=True, progress=False)
    a, b = full.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in read_metrics(tmp_path / "full")] == \
        [r["loss"] for r in read_metrics(tmp_path / "cut")]
    assert (tmp_path / "full" / "sampling.png").stat().st_size > 0
    if full.family.ground_truth(EvalConfig()) is None:
        config.evaluate.n_archs, config.evaluate.eval_images = 4, 64
        report = api.rank(config, tmp_path / "full", progress=False, pipe=full)
        assert report["protocol"]["oracle"] is None and report["supernet"]["n"] == 4


def test_nni_round_trip_keeps_the_spaces_arch_format(name):
    space = get_family(name).space()
    nni_space = space.to_nni()
    back = type(space).from_nni(nni_space)
    assert back.decisions == space.decisions
    arch = space.validate(nni_space.random(random_state=None))
    assert back.format(arch) == space.format(arch) and space.parse(space.format(arch)) == arch
