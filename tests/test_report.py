"""Ranking reports from data alone: every rival beside the supernet, and the verdict."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nasengine.proxies.hybrid import hybrid_ranking
from nasengine.report import RankingData, ranking_report, verdict

PROTOCOL = {"bn": "batch", "eval_images": 100, "archs": "random", "oracle": "cifar10/test"}


def synthetic(n: int = 40, seed: int = 0) -> RankingData:
    """A small synthetic ground truth: naswot nearly right, the supernet noisy."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(70, 94, n)
    naswot = truth + rng.normal(0, 0.5, n)
    synflow = truth + rng.normal(0, 6, n)
    synflow[3] = -math.inf  # "worst possible"
    return RankingData(
        names=[f"arch{i}" for i in range(n)], scores=truth + rng.normal(0, 4, n),
        truth=truth, params=rng.uniform(0.1, 1.5, n), protocol=dict(PROTOCOL),
        rivals={"naswot": naswot, "synflow": synflow,
                "ensemble": np.log(np.argsort(np.argsort(naswot)) + 1.0)},
        optimum=float(truth.max()) + 0.1)


def test_report_has_a_row_per_rival_with_the_supernets_metrics(tmp_path):
    data = synthetic()
    data.hybrid = hybrid_ranking(data, ["ensemble"])
    report = ranking_report(data, tmp_path, seconds=2.0, config={}, n_bootstrap=50)
    assert set(report["rivals"]) == {"naswot", "synflow", "ensemble"}
    for metrics in [*report["rivals"].values(), report["hybrid"], report["params_proxy"]]:
        assert metrics.keys() == report["supernet"].keys()
        assert metrics["n"] == 40 and metrics["ci95"]["kendall_tau"][0] < metrics["kendall_tau"]
    assert report["rivals"]["naswot"]["kendall_tau"] > 0.9 > report["supernet"]["kendall_tau"]
    saved = json.loads((tmp_path / "ranking.json").read_text())
    assert saved["rivals"]["synflow"]["kendall_tau"] == report["rivals"]["synflow"]["kendall_tau"]
    md = (tmp_path / "ranking.md").read_text()
    assert "| metric | supernet | hybrid | #params proxy | naswot | synflow | ensemble |" in md
    assert "does NOT beat the strongest free rival, the naswot proxy" in md
    header = (tmp_path / "scores.csv").read_text().splitlines()[0]
    assert header == "arch,supernet_acc,true_acc,params_M,hybrid,naswot,synflow,ensemble"
    assert (tmp_path / "ranking.png").read_bytes()[:4] == b"\x89PNG"


def test_verdict_says_when_the_supernet_beats_every_rival(tmp_path):
    data = synthetic()
    data.scores = np.asarray(data.truth) + 0.01 * np.arange(40) % 0.02
    data.rivals.pop("naswot")
    report = ranking_report(data, tmp_path, seconds=1.0, config={}, n_bootstrap=0)
    assert "beats the strongest free rival, the ensemble proxy" in verdict(report)


def test_without_proxies_the_verdict_is_against_params(tmp_path):
    data = synthetic()
    data.rivals = {}
    report = ranking_report(data, tmp_path, seconds=1.0, config={}, n_bootstrap=0)
    assert report["rivals"] == {} and "hybrid" not in report
    assert "the #params proxy (" in verdict(report)


class Untouchable(list):
    """A ground truth that fails the test if anything reads it."""

    def _fail(self, *args, **kwargs):
        raise AssertionError("the ground truth was read")

    __getitem__ = __iter__ = __len__ = __array__ = __contains__ = _fail


def test_the_hybrid_rule_never_reads_the_ground_truth():
    data = synthetic()
    data.truth = Untouchable()
    hybrid = hybrid_ranking(data, ["ensemble", "naswot"])
    assert hybrid.shape == (40,) and np.all(np.isfinite(hybrid))


def test_hybrid_members_must_have_been_computed():
    from nasengine.errors import ConfigError

    with pytest.raises(ConfigError, match="were not computed"):
        hybrid_ranking(synthetic(), ["jacob_cov"])
