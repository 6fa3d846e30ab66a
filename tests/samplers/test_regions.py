"""Complexity regions and the linear complexity model behind them."""
import random

import pytest

from nasengine.errors import ConfigError
from nasengine.samplers.regions import LinearComplexity, Regions
from nasengine.families import get_family

WIDTH = {"channels": 4, "cells": 1, "num_classes": 10}


@pytest.fixture(scope="module")
def nb201():
    family = get_family("nb201")
    measure = lambda arch: family.complexity(arch, **WIDTH)  # noqa: E731
    return family, measure, LinearComplexity.measure(family.space(), measure, "params",
                                                     random.Random(0))


def test_nb201_complexity_is_additive_so_the_model_is_exact(nb201):
    family, measure, model = nb201
    assert model.exact
    rng = random.Random(5)
    for arch in (family.space().sample(rng) for _ in range(6)):
        assert model(arch) == measure(arch)["params"]
    smallest = model.smallest()
    assert set(smallest.values()) == {"none"}  # all-none: no conv on any edge


@pytest.mark.parametrize("binning", ["quantile", "width"])
def test_regions_partition_the_whole_nb201_space(nb201, binning):
    family, _, model = nb201
    space = family.space()
    rng = random.Random(1)
    regions = Regions.build([model(space.sample(rng)) for _ in range(512)], 4, binning)
    members = [regions.region(model(arch)) for arch in space.enumerate()]
    counts = [members.count(b) for b in range(len(regions))]
    assert sum(counts) == len(space) and all(c > 0 for c in counts)
    lows = [regions.bounds(b)[0] for b in range(len(regions))]
    assert lows == sorted(lows)  # ordered from small to large


def test_quantile_regions_hold_similar_shares_and_never_split_ties():
    values = [1.0] * 50 + [2.0] * 10 + [3.0] * 20 + [4.0] * 20
    regions = Regions.build(values, 4, "quantile")
    assert sum(regions.prior) == pytest.approx(1.0)
    for v in set(values):
        assert len({regions.region(v)} | {regions.region(v + 0.0)}) == 1
    assert regions.prior[0] == 0.5  # the tie at 1.0 stays in one region


def test_non_additive_space_gets_a_fitted_model():
    family = get_family("macro")
    space = family.space()
    measure = lambda arch: family.complexity(arch, channels=4)  # noqa: E731
    model = LinearComplexity.measure(space, measure, "params", random.Random(0), checks=2,
                                     fit_archs=70)
    assert not model.exact and model.canonical  # blocks count only below their stage's depth
    rng = random.Random(3)
    archs = [space.sample(rng) for _ in range(12)]
    truth = [measure(a)["params"] for a in archs]
    mean = sum(truth) / len(truth)
    fitted = sum(abs(model(space.canonical(a)) - t) for a, t in zip(archs, truth))
    assert fitted < 0.6 * sum(abs(mean - t) for t in truth)  # well ahead of a constant


def test_regions_need_archs_that_differ():
    with pytest.raises(ConfigError, match="same complexity"):
        Regions.build([3.0] * 10, 3, "quantile")


def test_unknown_metric_is_named(nb201):
    family, measure, _ = nb201
    with pytest.raises(ConfigError, match="'latency'.*flops"):
        LinearComplexity.measure(family.space(), measure, "latency", random.Random(0))
