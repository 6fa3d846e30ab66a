"""The study's statistics: per cell, over seeds with bootstrap CIs, and paired against a baseline.

Every figure of a cell is computed for the archs as scored (the point value) and for
``B`` bootstrap resamples of those archs. A method's figure is the mean over its seeds,
± the std over seeds; its 95% CI is the percentile interval of the seed-mean over the
resamples (within each seed the archs are resampled; which archs, is the same for every
method, so differences between methods are paired). The test against the baseline is a
paired bootstrap over archs of the seed-mean difference in Kendall tau (two-sided p: twice
the smaller share of resampled differences on either side of 0; a difference is reported
when its 95% CI excludes 0), beside a paired t-test of
the per-seed taus (a one-sample t-test of the per-seed differences, as scipy ``ttest_rel``;
needs 2+ seeds).
"""
from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy import stats

from ..metrics import _CHUNK_ELEMENTS, resample_stats, topk_size, validate_pair

#: figure key -> column title, in report order
COLUMNS = {"kendall_tau": "Kendall τ", "spearman_rho": "Spearman ρ",
           "precision_at_5": "P@top-5%", "precision_at_10": "P@top-10%",
           "top10_tau": "τ in top-10%", "regret": "regret C10 (pts)",
           "chosen_cifar10": "chosen C10 %", "chosen_cifar100": "chosen C100 %",
           "chosen_ImageNet16-120": "chosen IN16 %"}


@dataclass
class Truth:
    """The ground truth of one arch list: the oracle's accuracies and the chosen-arch tables."""

    oracle: np.ndarray  # accuracy the ranking is judged on (e.g. CIFAR-10 test)
    optimum: float  # best oracle accuracy in the whole space (regret is measured from it)
    other: dict[str, np.ndarray] = field(default_factory=dict)  # dataset -> accuracy


@dataclass
class CellStats:
    """One cell's figures: ``point`` for the scored archs, ``boot`` per resample."""

    point: dict[str, float]
    boot: dict[str, np.ndarray]


def cell_stats(predicted: Sequence[float], truth: Truth, n_bootstrap: int,
               seed: int) -> CellStats:
    """Figures of ``predicted`` against ``truth``; resamples drawn from ``seed`` (paired)."""
    pred, true = validate_pair(predicted, truth.oracle)
    ident = np.arange(len(pred))[None]
    point = {k: float(v[0]) for k, v in _stats(pred, true, truth, ident).items()}
    parts: dict[str, list[np.ndarray]] = {}
    for idx in _resamples(len(pred), n_bootstrap, seed):
        for key, values in _stats(pred, true, truth, idx).items():
            parts.setdefault(key, []).append(values)
    return CellStats(point, {k: np.concatenate(v) for k, v in parts.items()})


def _resamples(n: int, n_bootstrap: int, seed: int):
    """Index matrices of ``n_bootstrap`` resamples of ``n`` archs, in memory-bounded chunks."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_bootstrap, chunk):
        yield rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))


def _stats(pred: np.ndarray, true: np.ndarray, truth: Truth, idx: np.ndarray
           ) -> dict[str, np.ndarray]:
    """Every figure for each row of ``idx`` (a resample of arch positions)."""
    base = resample_stats(pred, true, idx, (5, 10))
    out = {k: base[k] for k in ("kendall_tau", "spearman_rho", "precision_at_5",
                                "precision_at_10")}
    out["top10_tau"] = top_tau(pred[idx], true[idx], 10)
    chosen = np.take_along_axis(idx, np.argmax(pred[idx], axis=1)[:, None], axis=1)[:, 0]
    out["regret"] = truth.optimum - truth.oracle[chosen]
    out["chosen_cifar10"] = truth.oracle[chosen]
    for dataset, acc in truth.other.items():
        out[f"chosen_{dataset}"] = acc[chosen]
    return out


def top_tau(pred: np.ndarray, true: np.ndarray, k: float) -> np.ndarray:
    """Kendall tau-b among each row's truly best k% (at least 3 archs): order at the top."""
    m = max(3, topk_size(pred.shape[1], k))
    top = np.argpartition(-true, m - 1, axis=1)[:, :m]  # the m best, in no order (tau ignores it)
    p, t = np.take_along_axis(pred, top, axis=1), np.take_along_axis(true, top, axis=1)
    if m > 400:  # the pairwise form below would hold m*m signs per row
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant rows: NaN, left out of means and CIs
            return np.array([stats.kendalltau(a, b).statistic for a, b in zip(p, t)])
    rows = max(1, _CHUNK_ELEMENTS // (m * m))
    return np.concatenate([_pairwise_tau_b(p[i:i + rows], t[i:i + rows])
                           for i in range(0, len(p), rows)])


def _pairwise_tau_b(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row-wise tau-b from pair signs: sum sign(dp)sign(dt) / sqrt(untied_p * untied_t)."""
    sp = np.sign(p[:, :, None] - p[:, None, :])
    st = np.sign(t[:, :, None] - t[:, None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sp * st).sum((1, 2)) / np.sqrt(np.abs(sp).sum((1, 2)) * np.abs(st).sum((1, 2)))


def summarize(cells: Sequence[CellStats]) -> dict[str, dict[str, Any]]:
    """Per figure: mean ± std over the cells (seeds), per-seed values, 95% CI of the mean."""
    out = {}
    for key in cells[0].point:
        values = [c.point[key] for c in cells]
        finite = [v for v in values if math.isfinite(v)]
        seed_mean = _seed_mean([c.boot.get(key, np.array([])) for c in cells])
        out[key] = {"mean": statistics.fmean(finite) if finite else math.nan,
                    "std": statistics.stdev(finite) if len(finite) > 1 else 0.0,
                    "per_seed": values, "ci95": _ci(seed_mean)}
    return out


def paired_test(method: Sequence[CellStats], baseline: Sequence[CellStats],
                key: str = "kendall_tau") -> dict[str, Any]:
    """``method`` vs ``baseline`` on ``key`` over the same seeds (same order) and resamples."""
    if len(method) != len(baseline) or not method:
        raise ValueError("a paired test needs the same seeds for both methods")
    deltas = [m.point[key] - b.point[key] for m, b in zip(method, baseline)]
    boot = _seed_mean([m.boot.get(key, np.array([])) - b.boot.get(key, np.array([]))
                       for m, b in zip(method, baseline)])
    finite = boot[np.isfinite(boot)]
    p_boot = (min(1.0, 2 * min(float((finite <= 0).mean()), float((finite >= 0).mean())))
              if finite.size else math.nan)
    lo, hi = _ci(boot)
    p_t = _ttest(deltas)
    if math.isfinite(lo):  # the bootstrap CI decides; without resamples, the t-test
        different: bool | None = bool(lo > 0 or hi < 0)
    else:
        different = None if p_t is None else p_t < 0.05
    delta = statistics.fmean(deltas)
    return {"metric": key, "delta": delta, "per_seed_delta": deltas,
            "ci95": [lo, hi], "p_bootstrap": p_boot, "p_ttest": p_t,
            "different": different, "seeds": len(deltas),
            "verdict": verdict(different, delta, deltas)}


def verdict(different: bool | None, delta: float, deltas: Sequence[float]) -> str:
    """The verdict of a paired test, honest about the seeds.

    The bootstrap resamples archs within each seed, so it cannot see how much a method
    moves from seed to seed: a difference whose per-seed signs disagree is "mixed", not
    "better" or "worse", however small its p.
    """
    if different is None:
        return "untested"
    if not different:
        return "no difference"
    word = "better" if delta > 0 else "worse"
    agree = sum(1 for d in deltas if (d > 0) == (delta > 0) and d != 0)
    if agree < len(deltas):
        return f"mixed: {word} on {agree} of {len(deltas)} seeds"
    return word


def _seed_mean(per_seed: list[np.ndarray]) -> np.ndarray:
    """Per resample, the mean over seeds of their finite values (NaN where none is)."""
    if not all(len(v) for v in per_seed):
        return np.array([])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN resamples (a constant top set): NaN
        return np.nanmean(np.stack(per_seed), axis=0)


def _ttest(deltas: list[float]) -> float | None:
    """Two-sided paired t-test p of per-seed differences (None below 2 seeds)."""
    if len(deltas) < 2:
        return None
    if all(d == deltas[0] for d in deltas):  # no spread: t is 0/0 or +-inf
        return 1.0 if deltas[0] == 0 else 0.0
    return float(stats.ttest_1samp(deltas, 0.0).pvalue)


def _ci(values: np.ndarray) -> list[float]:
    finite = values[np.isfinite(values)] if len(values) else values
    if not len(finite):
        return [math.nan, math.nan]
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [float(lo), float(hi)]
