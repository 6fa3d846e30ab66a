"""The hybrid rules (equal-weight log-ranks; the proxies' shortlist ordered by the supernet),
and their one-arch-at-a-time forms for searches."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.proxies import PROXIES
from nasengine.proxies.ensemble import log_rank_sum
from nasengine.proxies.hybrid import (HybridObjective, LogRankSum, Shortlist, hybrid_rule,
                                      shortlist_size)

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


# -- the shortlist rule: the proxies pick the candidates, the supernet orders them -----
def _columns(n: int = 40, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return rng.normal(90, 2, n), {"naswot": rng.normal(0, 1, n), "synflow": rng.normal(0, 1, n)}


def _by_score(values) -> list[int]:
    return [int(i) for i in np.argsort(-np.asarray(values), kind="stable")]


@pytest.mark.parametrize("members", [["naswot"], ["naswot", "synflow"]])
def test_the_shortlist_is_the_proxies_top_k_ordered_by_the_supernet(members):
    supernet, columns = _columns()
    ranked = Shortlist().rank(supernet, columns, members)  # q = 0.1 of 40 archs: 4
    top = _by_score(ranked)[:4]
    assert set(top) == set(_by_score(log_rank_sum(columns, members))[:4])
    assert top == sorted(top, key=lambda i: -supernet[i])
    rest = _by_score(ranked)[4:]  # the others in the log-rank-sum hybrid's order
    plain = LogRankSum().rank(supernet, columns, members)
    assert rest == [i for i in _by_score(plain) if i not in top]


def test_the_shortlist_share_is_ceil_q_n_and_ties_at_its_edge_all_enter():
    assert [shortlist_size(q, n) for q, n in [(0.1, 30), (0.1, 31), (0.01, 40), (1, 7)]] \
        == [3, 4, 1, 7]
    picked = Shortlist().rank([1.0, 2.0, 3.0, 4.0], {"p": [5.0, 5.0, 1.0, 0.0]}, ["p"]) >= 1
    assert picked.tolist() == [True, True, False, False]


def _shortlist_objective(q: float = 0.1, n: int = 30, seed: int = 1):
    supernet, columns = _columns(n, seed)
    rule = Shortlist(load_config("smoke", [f"proxies.shortlist={q}"]).proxies)
    return supernet, columns, rule.objective(supernet, {"naswot": PROXIES.create("naswot")},
                                             {"naswot": columns["naswot"]})


def test_the_search_objective_puts_any_shortlisted_arch_above_any_other():
    supernet, columns, rule = _shortlist_objective()
    threshold = np.sort(columns["naswot"])[-3]  # the reference's top 3 of 30
    rng = np.random.default_rng(2)
    naswot, scores = rng.normal(0, 1.5, 300), rng.normal(90, 4, 300)
    values = np.array([rule(s, {"naswot": v}) for s, v in zip(scores, naswot)])
    inside = naswot >= threshold
    assert 0 < inside.sum() < 300 and values[inside].min() > values[~inside].max()
    # the worst supernet score on the shortlist beats the best one off it
    assert rule(-1e9, {"naswot": threshold}) > rule(1e9, {"naswot": np.nextafter(threshold, -np.inf)})
    order = np.argsort(scores[inside])
    assert np.all(np.diff(values[inside][order]) >= 0)  # inside: by the supernet


def test_the_search_objective_agrees_with_the_ranking_on_the_reference_archs():
    supernet, columns, rule = _shortlist_objective(q=0.2)
    one = {"naswot": columns["naswot"]}
    ranked = Shortlist(load_config("smoke", ["proxies.shortlist=0.2"]).proxies) \
        .rank(supernet, one, ["naswot"])
    searched = [rule(s, {"naswot": v}) for s, v in zip(supernet, columns["naswot"])]
    assert (ranked >= 1).sum() == 6 and ((ranked >= 1) == (np.array(searched) >= 1)).all()
    assert _by_score(ranked)[:6] == _by_score(searched)[:6]


@pytest.mark.parametrize("override, message", [
    ("proxies.rule='best'", "proxies.rule = 'best' is not a hybrid rule; known: "
                            "logrank-sum, shortlist"),
    ("proxies.rule=['shortlist']", "proxies.rule = \\['shortlist'\\] is not a hybrid rule"),
    ("proxies.shortlist=0", r"proxies.shortlist = 0 is not allowed; expected a share in \(0, 1\]"),
    ("proxies.shortlist=1.5", r"proxies.shortlist = 1.5 is not allowed"),
])
def test_a_bad_hybrid_rule_is_one_clear_error(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("smoke", [override])


def test_only_a_non_default_rule_joins_a_search_identity():
    """Studies made before rules existed used logrank-sum and must still reopen."""
    pc = load_config("smoke", ["proxies.rule='shortlist'", "proxies.shortlist=0.2"]).proxies
    assert hybrid_rule(pc).describe() == {"rule": "shortlist", "shortlist": 0.2}
    assert hybrid_rule(load_config("smoke").proxies).describe() == {}
