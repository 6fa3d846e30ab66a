"""ShiftNAS: region shift toward high performance variation, and the architecture generator."""
import math
from types import SimpleNamespace

import pytest
import torch

from nasengine import api
from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.samplers import SAMPLERS, ShiftNASSampler
from nasengine.samplers.base import SamplerContext
from nasengine.space import Categorical, SearchSpace
from nasengine.families import get_family
from nasengine.supernet.base import MixtureSupernet
from nasengine.train import read_metrics

TOY = SearchSpace([Categorical(f"d{i}", (0, 1, 2)) for i in range(4)])


class ToyContext(SamplerContext):
    """Losses whose spread across archs is ``noisy`` times larger in the top region."""

    noisy = 8.0

    def score(self, arch, batch):
        spread = self.noisy if sum(arch.values()) >= 6 else 1.0
        jitter = (TOY.encode(arch) * 7919 % 101) / 101 - 0.5  # fixed per arch
        return 0.5, 2.0 + 0.05 * spread * jitter


def toy_context() -> ToyContext:
    complexity = lambda arch: {"params": 100.0 + 10 * sum(arch.values()),  # noqa: E731
                               "flops": 1.0 + sum(arch.values())}
    return ToyContext(None, torch.device("cpu"), complexity,
                      valid_batch=lambda k: (torch.zeros(1), torch.zeros(1)), valid_batches=1)


def test_shift_moves_probability_toward_the_region_with_larger_variation():
    sampler = ShiftNASSampler(TOY, seed=0, regions=3, generator_steps=0, shift_start=0)
    sampler.bind(toy_context())
    top = sampler.region_of({f"d{i}": 2 for i in range(4)})
    prior = sampler.probabilities()
    assert prior == pytest.approx(sampler.regions.prior)  # no shift yet: uniform's shares
    for epoch in range(4):
        sampler.on_epoch_end(epoch)
    shifted = sampler.probabilities()
    assert shifted[top] > prior[top] + 0.15
    assert all(shifted[b] < prior[b] for b in range(len(prior)) if b != top)
    assert sampler.epoch_log()["probs"] == shifted
    steps = [0] * len(prior)
    for _ in range(600):
        steps[sampler.region_of(sampler.sample())] += 1
    assert steps[top] / 600 == pytest.approx(shifted[top], abs=0.07)


def test_training_loss_estimator_shifts_toward_the_region_whose_losses_spread_more():
    sampler = ShiftNASSampler(TOY, seed=0, regions=3, estimator="train", generator_steps=0,
                              shift_start=0)
    sampler.bind(toy_context())
    top = sampler.region_of({f"d{i}": 2 for i in range(4)})
    prior = sampler.probabilities()
    for epoch in range(3):
        for _ in range(60):
            arch = sampler.sample()
            _, loss = sampler.context.score(arch, None)
            sampler.observe(SimpleNamespace(arch=arch, loss=loss))
        sampler.on_epoch_end(epoch)
    assert sampler.probabilities()[top] > prior[top] + 0.1
    assert sum(sampler.epoch_log()["steps"]) == 60


def test_floor_keeps_every_region_sampled():
    sampler = ShiftNASSampler(TOY, seed=0, regions=3, generator_steps=0, shift_start=0,
                              lr=100.0, floor=0.2)
    sampler.bind(toy_context())
    for epoch in range(5):
        sampler.on_epoch_end(epoch)
    assert all(p >= 0.2 * q - 1e-12 for p, q in zip(sampler.probabilities(),
                                                       sampler.regions.prior))


@pytest.mark.parametrize("option, value, message", [
    ("regions", 1, "regions = 1 is not allowed; expected a value >= 2"),
    ("metric", "latency", "metric = 'latency' is not allowed; expected one of 'params'"),
    ("estimator", "grad", "estimator = 'grad' is not allowed; expected one of"),
    ("smoothing", 1.0, r"smoothing = 1.0 is not allowed; expected a value in \[0, 1\)"),
    ("generator_lr", 0, "generator_lr = 0 is not allowed; expected a value > 0"),
    ("generator_share", True, "generator_share = True is not allowed; expected a finite number"),
    ("bin_sample", 5, "bin_sample = 5 is not allowed; expected a value >= 6"),
])
def test_bad_options_are_named(option, value, message):
    with pytest.raises(ConfigError, match=message):
        SAMPLERS.create("shiftnas", {option: value}, space=TOY)  # as the engine does


# -- the generator on a real NB201 supernet -----------------------------------------------------
WIDTH = {"channels": 4, "cells": 1, "num_classes": 10}


def nb201_context(sharing: str) -> SamplerContext:
    family = get_family("nb201")
    supernet = family.build_supernet(sharing, **WIDTH)

    def batch(k):
        g = torch.Generator().manual_seed(k)
        return torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)

    return SamplerContext(supernet, torch.device("cpu"),
                          lambda arch: family.complexity(arch, **WIDTH), batch, 4)


def calibration(sampler: ShiftNASSampler, band=None) -> float:
    """Mean relative distance of generated archs' true complexity from the requested one."""
    lo, hi = math.log(sampler.regions.low), math.log(sampler.regions.high)
    errors = []
    for i in range(5):
        target = math.exp(lo + (hi - lo) * (i + 0.5) / 5)
        for j in range(4):
            arch = sampler.generate(target, noise=j > 0, band=band)
            assert sampler.space.contains(arch)
            errors.append(abs(sampler.complexity(arch) - target) / target)
    return sum(errors) / len(errors)


class ToySupernet(MixtureSupernet):
    """Logits = a linear map of the input plus one learned vector per chosen value."""

    def __init__(self) -> None:
        super().__init__()
        self.space = TOY
        self.input = torch.nn.Linear(4, 10)
        self.choice = torch.nn.Parameter(torch.randn(len(TOY.decisions), 3, 10))

    def forward_mixture(self, x, probs, one_pass=True):
        weights = torch.stack([probs[label] for label in TOY.decisions])
        return self.input(x) + torch.einsum("dk,dkc->c", weights, self.choice)

    def forward(self, x, arch):
        return self.forward_mixture(x, {k: torch.nn.functional.one_hot(
            torch.tensor(v), 3).float() for k, v in arch.items()})


def test_generated_complexity_moves_toward_the_target_on_a_toy_space():
    context = toy_context()
    context.supernet = ToySupernet()  # complexity spread over decades, so misses are costly:
    context.complexity = lambda arch: {"params": 5.0 + sum(v * 10 * 4 ** int(k[1:])
                                                           for k, v in arch.items())}
    g = torch.Generator().manual_seed(0)
    context.valid_batch = lambda k: (torch.randn(16, 4, generator=g), torch.randint(0, 10, (16,)))
    sampler = ShiftNASSampler(TOY, seed=0, regions=3, generator_steps=60, chunks=4)
    sampler.bind(context)
    free = (0.0, math.inf)  # no feasibility mask: what the logits themselves have learned
    before, masked = calibration(sampler, free), calibration(sampler)
    sampler.train_generator()
    after = calibration(sampler, free)
    assert after < 0.5 * before, (before, after)
    assert masked < 0.25 < before  # the mask keeps even an untrained generator near target
    assert calibration(sampler) <= 0.25
    assert all(p.grad is None for p in context.supernet.parameters())


@pytest.mark.parametrize("sharing", ["weight_sharing", "entangled"])
def test_generator_trains_through_the_nb201_mixture_forward(sharing):
    sampler = ShiftNASSampler(get_family("nb201").space(), seed=0, generator_steps=3,
                              chunks=2)
    context = nb201_context(sharing)
    before = {k: v.clone() for k, v in context.supernet.state_dict().items()}
    weights = [p.clone() for p in sampler.generator.parameters()]
    sampler.bind(context)
    stats = sampler.train_generator()
    assert math.isfinite(stats["cross_entropy"]) and stats["penalty"] >= 0
    assert any(not torch.equal(a, b) for a, b in zip(weights, sampler.generator.parameters()))
    assert all(torch.equal(v, context.supernet.state_dict()[k])
               for k, v in before.items())  # supernet weights and BN buffers untouched
    assert all(p.grad is None for p in context.supernet.parameters())
    draws = [sampler.sample() for _ in range(40)]
    assert all(sampler.space.contains(a) for a in draws)
    assert sampler._epoch_stats["generated"] > 0  # the generator proposed some of them


# -- training: resume and both spaces -------------------------------------------------------------
TINY = ["supernet.channels=4", "data.train_limit=384", "data.valid_images=128",
        "train.batch_size=64", "train.epochs=2", "sampler.name=shiftnas",
        "sampler.options.generator_steps=2", "sampler.options.archs_per_region=3",
        "sampler.options.shift_start=0", "sampler.options.generator_share=0.7"]


def untimed(records):
    return [{k: v for k, v in r.items() if k != "learning_seconds"} for r in records]


def test_resume_is_bit_exact_for_supernet_generator_and_sampler(cifar10_path, tmp_path,
                                                                  train_twice):
    full, resumed = train_twice(load_config("smoke", TINY))
    a, b = full.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = full.sampler.state_dict(), resumed.sampler.state_dict()
    assert all(torch.equal(v, sb["generator"][k]) for k, v in sa["generator"].items())
    assert sa["theta"] == sb["theta"] and untimed(sa["log"]) == untimed(sb["log"])
    full_log, cut_log = read_metrics(tmp_path / "full"), read_metrics(tmp_path / "cut")
    assert [r["loss"] for r in full_log] == [r["loss"] for r in cut_log]
    assert untimed([r["sampler"] for r in full_log]) == untimed([r["sampler"] for r in cut_log])
    log = read_metrics(tmp_path / "full")[-1]["sampler"]
    assert sum(log["steps"]) == 4 and log["generated_steps"] > 0  # 256 images / batch 64


@pytest.mark.parametrize("space, sharing", [("nb201", "entangled"), ("macro", "entangled")])
def test_trains_on_both_spaces(cifar10_path, tmp_path, space, sharing):
    config = load_config("smoke", TINY + [f"supernet.space={space}", f"supernet.sharing={sharing}",
                                          "train.epochs=1"])
    api.train(config, tmp_path, progress=False)
    record = read_metrics(tmp_path)[-1]["sampler"]
    assert len(record["probs"]) == len(record["edges"]) + 1
    assert record["generator"]["penalty"] >= 0
    assert (tmp_path / "sampling.png").stat().st_size > 0


def test_without_validation_images_the_error_says_how(cifar10_path, tmp_path):
    config = load_config("smoke", [t for t in TINY if "valid_images" not in t])
    with pytest.raises(ConfigError, match="data.valid_images"):
        api.train(config, tmp_path, progress=False)


def test_building_the_sampler_leaves_the_global_rng_alone():
    """The generator's init must not shift the run's torch stream (the supernet's init)."""
    before = torch.get_rng_state()
    ShiftNASSampler(TOY, seed=3)
    assert torch.equal(before, torch.get_rng_state())
