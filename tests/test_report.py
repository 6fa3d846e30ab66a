"""Ranking reports from data alone: every rival beside the supernet, and the verdict."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nasengine.config import load_config
from nasengine.proxies.hybrid import HYBRID_RULES, Shortlist, hybrid_ranking
from nasengine.report import RankingData, ranking_report, summary_markdown, verdict

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
    assert ("| metric | supernet | hybrid (log-rank sum) | #params proxy | naswot | synflow "
            "| ensemble |") in md
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


@pytest.mark.parametrize("rule", HYBRID_RULES.names())
def test_the_hybrid_rule_never_reads_the_ground_truth(rule):
    data = synthetic()
    data.truth = Untouchable()
    hybrid = hybrid_ranking(data, ["ensemble", "naswot"], HYBRID_RULES.create(rule, config=None))
    assert hybrid.shape == (40,) and np.all(np.isfinite(hybrid))


def test_the_report_names_the_hybrid_rule_and_keeps_its_key(tmp_path):
    data = synthetic()
    rule = Shortlist(load_config("smoke", ["proxies.rule='shortlist'"]).proxies)
    data.hybrid, data.hybrid_rule = hybrid_ranking(data, ["ensemble"], rule), rule.label
    report = ranking_report(data, tmp_path, seconds=1.0, config={}, n_bootstrap=0)
    assert report["hybrid"]["n"] == 40 and report["hybrid_rule"] == "shortlist q=0.1"
    assert "| supernet | hybrid (shortlist q=0.1) | #params proxy |" in summary_markdown(report)


def test_hybrid_members_must_have_been_computed():
    from nasengine.errors import ConfigError

    with pytest.raises(ConfigError, match="were not computed"):
        hybrid_ranking(synthetic(), ["jacob_cov"])


def _report(**metrics) -> dict:
    """A report as ranking.json holds it, with the given Kendall tau per scorer."""
    def scorer(tau):
        return {"kendall_tau": tau, "spearman_rho": tau, "top1_true_acc": 93.5,
                "top1_true_rank": 3, "ci95": {"kendall_tau": [tau - 0.1, tau + 0.1]}}
    return {"protocol": {"bn": "recalibrate", "recal_batches": 10, "eval_images": 256,
                         "n_archs": 50, "oracle": "cifar10/test",
                         "checkpoint": {"epoch": 3, "epochs": 12, "finished": False}},
            "archs_per_s": 4.0, "supernet": scorer(metrics.pop("supernet")),
            "params_proxy": scorer(metrics.pop("params")),
            "rivals": {name: scorer(tau) for name, tau in metrics.items() if name != "hybrid"},
            **({"hybrid": scorer(metrics["hybrid"])} if "hybrid" in metrics else {})}


def test_verdict_a_tie_is_not_a_win_and_the_hybrid_must_beat_both():
    assert verdict(_report(supernet=0.5, params=0.5)) == (
        "The supernet (+0.500) does NOT beat the #params proxy (+0.500) on Kendall tau "
        "over 50 archs.")
    text = verdict(_report(supernet=0.6, params=0.5, naswot=0.55, hybrid=0.58))
    assert text.startswith("The supernet (+0.600) beats the strongest free rival, the naswot "
                           "proxy (+0.550)")
    assert text.endswith("The hybrid ranking (+0.580) does NOT beat both.")
    assert "the #params proxy (+0.500)" in verdict(_report(supernet=0.4, params=0.5, naswot=0.5))


def test_summary_markdown_shows_the_protocol_every_scorer_and_an_unfinished_checkpoint():
    md = summary_markdown(_report(supernet=0.6, params=0.5, naswot=0.55))
    lines = md.splitlines()
    assert lines[0] == "# Ranking report (50 archs, oracle cifar10/test)"
    assert "BN protocol: `recalibrate`, recal_batches=10; 256 held-out images per arch" in md
    assert "| metric | supernet | #params proxy | naswot |" in lines
    assert "| kendall_tau | 0.600 [0.50, 0.70] | 0.500 [0.40, 0.60] | 0.550 [0.45, 0.65] |" in lines
    assert "| regret | - | - | - |" in lines  # not measured: a dash, not a made-up number
    assert "**Unfinished supernet**: checkpoint of epoch 3 of 12." in md
    assert lines[-1] == verdict(_report(supernet=0.6, params=0.5, naswot=0.55))
