"""The hybrid rule: equal-weight log-ranks, and its one-arch-at-a-time form for searches."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.proxies import PROXIES
from nasengine.proxies.hybrid import HybridObjective

REFERENCE = {"naswot": [1.0, 2.0, 3.0, 4.0], "flops": [40.0, 30.0, 20.0, 10.0]}
SUPERNET = [50.0, 60.0, 70.0, 80.0]


def objective(members=("naswot",)) -> HybridObjective:
    return HybridObjective(SUPERNET, {m: PROXIES.create(m) for m in members}, REFERENCE)


def test_an_arch_is_placed_among_the_reference_set():
    # supernet 65 is above 2 of 4 reference scores, naswot 3.5 above 3: log(3/5) + log(4/5)
    assert objective()(65.0, {"naswot": 3.5}) == pytest.approx(math.log(3 / 5) + math.log(4 / 5))


def test_better_on_every_source_scores_higher():
    rule = objective()
    assert rule(75.0, {"naswot": 3.5}) > rule(65.0, {"naswot": 3.5}) > rule(65.0, {"naswot": 0})


def test_a_set_level_member_is_scored_against_the_set_from_its_members():
    ensemble = PROXIES.create("ensemble", members=("naswot", "flops"))
    rule = HybridObjective(SUPERNET, {"ensemble": ensemble}, REFERENCE)
    # each reference arch is best on one member and worse on the other, so an arch best
    # on both is above every reference ensemble value and every supernet score: log 1 + log 1
    best = rule(80.0, {"naswot": 4.0, "flops": 40.0})
    assert best == pytest.approx(math.log(5 / 5) + math.log(5 / 5))


def test_proxy_config_is_checked():
    with pytest.raises(ConfigError, match="proxies.batch_size must be a positive integer"):
        load_config("smoke", ["proxies.batch_size=0"])
    with pytest.raises(ConfigError, match="proxies.names must be a list of proxy names"):
        load_config("smoke", ["proxies.names='naswot'"])
    assert load_config("smoke", ['proxies.names=["naswot"]']).proxies.names == ["naswot"]


def test_unknown_proxy_names_are_refused_before_any_work():
    from nasengine.proxies.setup import check_names

    with pytest.raises(ConfigError, match="unknown proxy 'nope'"):
        check_names(load_config("smoke", ['proxies.hybrid=["nope"]']))
    with pytest.raises(ConfigError, match="not a per-arch proxy"):
        check_names(load_config("smoke", ['proxies.names=["ensemble"]',
                                          'proxies.ensemble=["ensemble"]']))
    assert np.isfinite(objective(("naswot", "flops"))(60.0, {"naswot": 2, "flops": 30}))
