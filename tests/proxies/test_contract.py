"""Contract every registered proxy honours (register a proxy: it is tested here)."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from nasengine.errors import ConfigError
from nasengine.proxies import PROXIES, ArchProxy, Probe
from nasengine.families import get_family

SMALL_NETS = {"nb201": {"channels": 4, "cells": 1}, "macro": {"channels": 4}}
ARCH_PROXIES = [n for n in PROXIES.names() if isinstance(PROXIES.create(n), ArchProxy)]


def probe(space: str, arch, batch, seed: int) -> Probe:
    family = get_family(space)
    net = SMALL_NETS[space]
    return Probe(lambda: family.standalone(arch, **net), batch, seed, family.input_shape())


@pytest.fixture(scope="module", params=sorted(SMALL_NETS))
def scored(request, batch):
    """Every per-arch proxy of two archs, twice with seed 0 and once with seed 1."""
    space = request.param
    archs = [get_family(space).space().sample(random.Random(i)) for i in range(2)]
    runs = {}
    for tag, seed in (("a", 0), ("b", 0), ("other", 1)):
        runs[tag] = [{n: PROXIES.create(n).score(p) for n in ARCH_PROXIES}
                     for p in [probe(space, arch, batch, seed) for arch in archs]]
    return runs


@pytest.mark.parametrize("name", ARCH_PROXIES)
def test_same_seed_same_score_on_both_spaces(scored, name):
    first = [row[name] for row in scored["a"]]
    assert first == [row[name] for row in scored["b"]]
    assert all(isinstance(v, float) and not math.isnan(v) for v in first)


def test_a_different_seed_changes_the_weight_dependent_scores(scored):
    changed = [n for n in ARCH_PROXIES if scored["a"][0][n] != scored["other"][0][n]]
    assert set(changed) == set(ARCH_PROXIES) - {"params", "flops"}


def test_archs_differ(scored):
    assert scored["a"][0]["params"] != scored["a"][1]["params"]


def test_ensemble_is_a_sum_of_log_ranks_over_its_members():
    ensemble = PROXIES.create("ensemble", members=("params", "synflow"))
    cols = {"params": np.array([1.0, 2.0, 3.0, 4.0]), "synflow": np.array([4.0, 3.0, 2.0, 1.0]),
            "naswot": np.zeros(4)}
    expected = np.log([1 / 4, 2 / 4, 3 / 4, 1.0]) + np.log([1.0, 3 / 4, 2 / 4, 1 / 4])
    np.testing.assert_allclose(ensemble.combine(cols), expected)


def test_ensemble_members_must_be_per_arch_proxies():
    with pytest.raises(ConfigError, match="not a per-arch proxy"):
        PROXIES.create("ensemble", members=("ensemble",))
    with pytest.raises(ConfigError, match="known: .*naswot"):
        PROXIES.create("ensemble", members=("nope",))
