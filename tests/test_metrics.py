"""Ranking metrics: hand-checked cases, bootstrap intervals, and refusing bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from nasengine.errors import ConfigError
from nasengine.metrics import (
    compare_to_proxy,
    kendall_tau,
    ranking_metrics,
    resample_stats,
    topk_size,
)


def test_perfect_ranking():
    true = np.linspace(60, 94, 40)
    m = ranking_metrics(true * 0.5 + 3, true, optimum=95.0, n_bootstrap=200)
    assert m["n"] == 40
    assert m["kendall_tau"] == pytest.approx(1.0)
    assert m["spearman_rho"] == pytest.approx(1.0) and m["pearson_r"] == pytest.approx(1.0)
    assert m["precision_at_5"] == 1.0 and m["precision_at_10"] == 1.0
    assert m["top1_true_acc"] == 94.0 and m["top1_true_rank"] == 1
    assert m["regret"] == 0.0 and m["regret_global"] == pytest.approx(1.0)
    assert m["ci95"]["kendall_tau"] == pytest.approx([1.0, 1.0])


def test_reversed_ranking():
    true = np.arange(20, dtype=float)
    m = ranking_metrics(-true, true, n_bootstrap=0)
    assert m["kendall_tau"] == pytest.approx(-1.0) and m["spearman_rho"] == pytest.approx(-1.0)
    assert m["precision_at_5"] == 0.0 and m["precision_at_10"] == 0.0
    assert m["top1_true_acc"] == 0.0 and m["top1_true_rank"] == 20 and m["regret"] == 19.0
    assert "regret_global" not in m and m["ci95"] == {}


def test_small_case_by_hand():
    # pairs of (pred, true): one discordant pair (2,3) of 6 -> tau = (5 - 1) / 6;
    # rank differences 0,1,1,0 -> rho = 1 - 6 * 2 / (4 * 15) = 0.8 (values are ranks: r = rho)
    m = ranking_metrics([1, 2, 3, 4], [1, 3, 2, 4], topk=(25, 50), n_bootstrap=0)
    assert m["kendall_tau"] == pytest.approx(4 / 6)
    assert m["spearman_rho"] == pytest.approx(0.8) and m["pearson_r"] == pytest.approx(0.8)
    # top 25% = 1 arch: predicted best (true 4) is the true best; top 50% = 2 archs:
    # predicted {4, 3} have true {4, 2}; true top-2 is {4, 3} -> 1 hit of 2
    assert m["precision_at_25"] == 1.0 and m["precision_at_50"] == 0.5
    assert m["top1_true_rank"] == 1 and m["regret"] == 0.0


def test_top_pick_that_is_not_the_best():
    m = ranking_metrics([0.9, 0.1, 0.5, 0.3], [70, 90, 80, 60], optimum=95, n_bootstrap=0)
    assert m["top1_true_acc"] == 70.0 and m["top1_true_rank"] == 3
    assert m["regret"] == 20.0 and m["regret_global"] == 25.0
    # tau: concordant (0,3),(2,3); discordant (0,1),(0,2),(1,2),(1,3) -> (2 - 4) / 6
    assert m["kendall_tau"] == pytest.approx(-1 / 3)


def test_ties_use_tau_b_and_count_true_ties_as_hits():
    pred = [3, 3, 2, 1, 1, 0]
    true = [5, 5, 5, 4, 1, 0]
    m = ranking_metrics(pred, true, topk=(50,), n_bootstrap=0)
    assert m["kendall_tau"] == pytest.approx(stats.kendalltau(pred, true).statistic)
    assert m["spearman_rho"] == pytest.approx(stats.spearmanr(pred, true).statistic)
    assert m["precision_at_50"] == 1.0  # predicted top 3 all have true 5, the 3rd best value


@pytest.mark.parametrize("n,k,size", [(200, 5, 10), (200, 10, 20), (10, 5, 1), (30, 5, 2),
                                      (50, 5, 3), (3, 5, 1), (15625, 0.5, 78)])
def test_topk_size_rounds_half_up(n, k, size):
    assert topk_size(n, k) == size


def _noisy(n: int, seed: int = 0, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n)
    return true + noise * rng.normal(size=n), true


def test_intervals_contain_the_estimate_and_are_reproducible():
    pred, true = _noisy(200)
    m = ranking_metrics(pred, true, n_bootstrap=500, seed=3)
    assert set(m["ci95"]) == {"kendall_tau", "spearman_rho", "pearson_r", "precision_at_5",
                              "precision_at_10"}
    for key, (lo, hi) in m["ci95"].items():
        assert lo <= m[key] <= hi, key
        assert hi - lo > 0
    assert ranking_metrics(pred, true, n_bootstrap=500, seed=3)["ci95"] == m["ci95"]
    assert ranking_metrics(pred, true, n_bootstrap=500, seed=4)["ci95"] != m["ci95"]
    assert m["ci95"]["kendall_tau"][1] - m["ci95"]["kendall_tau"][0] < 0.2


def test_result_is_plain_json():
    pred, true = _noisy(30)
    m = ranking_metrics(pred, true, optimum=10.0, n_bootstrap=50)
    assert json.loads(json.dumps(m)) == m
    for key, value in m.items():
        assert type(value) in (int, float, dict), key


def test_resampled_statistics_match_scipy():
    """The vectorised per-resample statistics equal scipy's on each resample, ties included."""
    rng = np.random.default_rng(5)
    pred = rng.integers(0, 8, size=60).astype(float)  # many ties, like the #params proxy
    true = pred + rng.integers(0, 5, size=60)
    idx = rng.integers(0, 60, size=(25, 60))
    got = resample_stats(pred, true, idx, topk=(10,))
    for r, rows in enumerate(idx):
        p, t = pred[rows], true[rows]
        assert got["kendall_tau"][r] == pytest.approx(stats.kendalltau(p, t).statistic)
        assert got["spearman_rho"][r] == pytest.approx(stats.spearmanr(p, t).statistic)
        assert got["pearson_r"][r] == pytest.approx(stats.pearsonr(p, t).statistic)
        point = ranking_metrics(p, t, topk=(10,), n_bootstrap=0)
        assert got["precision_at_10"][r] == point["precision_at_10"]


def test_constant_prediction_gives_nan_correlations_not_a_crash():
    m = ranking_metrics([1.0] * 5, [1, 2, 3, 4, 5], n_bootstrap=20)
    assert math.isnan(m["kendall_tau"]) and math.isnan(m["spearman_rho"])
    assert m["top1_true_acc"] == 1.0 and m["regret"] == 4.0  # ties: first listed arch
    assert all(math.isnan(v) for v in m["ci95"]["kendall_tau"])


def test_compare_to_proxy():
    pred, true = _noisy(50)
    out = compare_to_proxy(pred, true + 0.01 * pred, true, n_bootstrap=0)
    assert set(out) == {"supernet", "params_proxy"}
    assert out["params_proxy"]["kendall_tau"] > out["supernet"]["kendall_tau"]
    assert out["supernet"] == ranking_metrics(pred, true, n_bootstrap=0)


def test_kendall_tau_helper():
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


@pytest.mark.parametrize("pred,true,kw,message", [
    ([1, 2, 3], [1, 2], {}, "predicted has 3 values but true has 2"),
    ([1, 2], [1, 2], {}, "at least 3 archs, got 2"),
    ([1, float("nan"), 3], [1, 2, 3], {}, "predicted has 1 NaN/inf values"),
    ([1, 2, 3], [1, 2, float("inf")], {}, "true has 1 NaN/inf"),
    (["a", "b", "c"], [1, 2, 3], {}, "predicted must be a sequence of numbers"),
    ([[1, 2], [3, 4], [5, 6]], [1, 2, 3], {}, "one-dimensional"),
    ([1, 2, 3], [1, 2, 3], {"topk": (0,)}, "topk must be percentages"),
    ([1, 2, 3], [1, 2, 3], {"topk": (150,)}, "topk must be percentages"),
    ([1, 2, 3], [1, 2, 3], {"topk": ()}, "topk must be percentages"),
    ([1, 2, 3], [1, 2, 3], {"n_bootstrap": -1}, "n_bootstrap must be"),
    ([1, 2, 3], [1, 2, 3], {"n_bootstrap": 2.5}, "n_bootstrap must be"),
    ([1, 2, 3], [1, 2, 3], {"optimum": 2.0}, "optimum 2.0 is below the best true value 3.0"),
])
def test_bad_input(pred, true, kw, message):
    with pytest.raises(ConfigError, match=message) as err:
        ranking_metrics(pred, true, **kw)
    assert isinstance(err.value, ValueError)
