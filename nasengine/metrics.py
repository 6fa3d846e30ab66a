"""How well a predicted ranking matches the ground truth, with bootstrap uncertainty.

A one-shot supernet is only useful if its scores *rank* architectures like their
true accuracies do, so the headline numbers are rank correlations (Kendall tau-b,
Spearman) plus what a search would actually get: the true accuracy of the
top-scored arch and its regret. Every number comes with a 95% percentile
bootstrap interval over the evaluated archs, because a few hundred archs leave
tau uncertain by several hundredths and comparisons need to show it.

Ties: tau-b and average ranks handle them in the correlations. For precision@k
and the top-1 pick, ties in the prediction go to the arch listed first, and a
predicted top-k arch counts as a hit if its true value reaches the k-th best true
value (so ties in the truth never cost a hit).
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from .errors import ConfigError

_CHUNK_ELEMENTS = 1 << 21  # resampled values held at once (bounds memory for large n)


def ranking_metrics(predicted: Sequence[float], true: Sequence[float], *,
                    topk: Sequence[float] = (5, 10), n_bootstrap: int = 1000, seed: int = 0,
                    optimum: float | None = None) -> dict[str, Any]:
    """Rank agreement of ``predicted`` with ``true`` (same archs, same order).

    Args:
        predicted: scores, higher = predicted better (supernet accuracy, a proxy).
        true: ground-truth accuracies of the same archs.
        topk: percentages for ``precision_at_{k}``; top-k% holds max(1, n*k/100 rounded
            half up) archs.
        n_bootstrap: resamples for the ``ci95`` intervals (0: no intervals).
        seed: seed of the resampling, for reproducible intervals.
        optimum: best true value in the whole space, for ``regret_global``.

    Returns:
        A JSON-serialisable dict; correlations are NaN where undefined (constant input).
    """
    pred, tru = validate_pair(predicted, true)
    ks = _check_options(topk, n_bootstrap)
    n = len(pred)
    result: dict[str, Any] = {"n": n, "kendall_tau": kendall_tau(pred, tru),
                              "spearman_rho": _scipy_stat(stats.spearmanr, pred, tru),
                              "pearson_r": _scipy_stat(stats.pearsonr, pred, tru)}
    result.update({name: float(v[0]) for name, v in _precisions(pred[None], tru[None], ks).items()})
    result.update(_top1(pred, tru, optimum))
    result["n_bootstrap"] = n_bootstrap
    result["ci95"] = bootstrap_ci(pred, tru, ks, n_bootstrap, seed) if n_bootstrap else {}
    return result


def compare_to_proxy(predicted: Sequence[float], proxy: Sequence[float], true: Sequence[float],
                     **kw: Any) -> dict[str, dict[str, Any]]:
    """Supernet metrics beside the #params proxy's: the baseline a supernet must beat."""
    return {"supernet": ranking_metrics(predicted, true, **kw),
            "params_proxy": ranking_metrics(proxy, true, **kw)}


def validate_pair(predicted: Sequence[float], true: Sequence[float],
                  names: tuple[str, str] = ("predicted", "true")
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Both sequences as float arrays; ConfigError unless equal-length, >= 3 and finite."""
    arrays = []
    for name, values in zip(names, (predicted, true)):
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be a sequence of numbers ({exc})") from None
        if arr.ndim != 1:
            raise ConfigError(f"{name} must be one-dimensional, got shape {arr.shape}")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ConfigError(f"{name} has {bad.size} NaN/inf values (first at position "
                              f"{bad[0]}); drop those archs or fix what produced them")
        arrays.append(arr)
    pred, tru = arrays
    if len(pred) != len(tru):
        raise ConfigError(f"{names[0]} has {len(pred)} values but {names[1]} has {len(tru)}; "
                          "pass one of each per arch, in the same order")
    if len(pred) < 3:
        raise ConfigError(f"ranking metrics need at least 3 archs, got {len(pred)}; "
                          "evaluate more archs")
    return pred, tru


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall tau-b (scipy), NaN where undefined."""
    return _scipy_stat(stats.kendalltau, x, y)


def topk_size(n: int, k: float) -> int:
    """Archs in the top ``k`` percent of ``n``: max(1, n*k/100 rounded half up)."""
    return max(1, math.floor(n * k / 100 + 0.5))


def bootstrap_ci(pred: np.ndarray, true: np.ndarray, topk: Sequence[float], n_bootstrap: int,
                 seed: int) -> dict[str, list[float]]:
    """95% percentile intervals of every statistic over resampled archs."""
    rng = np.random.default_rng(seed)
    n = len(pred)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, n_bootstrap, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_bootstrap - start), n))
        for name, values in resample_stats(pred, true, idx, topk).items():
            parts.setdefault(name, []).append(values)
    return {name: _percentile_ci(np.concatenate(v)) for name, v in parts.items()}


def resample_stats(pred: np.ndarray, true: np.ndarray, idx: np.ndarray, topk: Sequence[float]
                   ) -> dict[str, np.ndarray]:
    """Every statistic for each resample ``pred[idx[r]], true[idx[r]]``, vectorised where possible.

    tau-b has no cheap vectorised form, so it loops over scipy's O(n log n) version
    (about 0.3 ms per resample of 200 archs).
    """
    p, t = pred[idx], true[idx]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant resamples: NaN, counted out of the interval
        tau = np.array([stats.kendalltau(a, b).statistic for a, b in zip(p, t)])
    return {"kendall_tau": tau,
            "spearman_rho": _rowwise_pearson(_resample_ranks(pred, idx),
                                             _resample_ranks(true, idx)),
            "pearson_r": _rowwise_pearson(p, t),
            **_precisions(p, t, topk)}


def _resample_ranks(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``rankdata(values[idx], axis=1)`` (average ranks) by counting, without a sort per row.

    A value's average rank is the number of smaller resampled values plus
    (its multiplicity + 1) / 2; counts per distinct value give both in O(n).
    """
    uniq, group = np.unique(values, return_inverse=True)
    rows, m = idx.shape[0], len(uniq)
    g = group[idx]
    counts = np.bincount((g + m * np.arange(rows)[:, None]).ravel(), minlength=rows * m)
    counts = counts.reshape(rows, m).astype(np.float64)
    rank = np.cumsum(counts, axis=1) - (counts - 1) / 2
    return np.take_along_axis(rank, g, axis=1)


def _check_options(topk: Sequence[float], n_bootstrap: int) -> list[float]:
    ks = [topk] if isinstance(topk, numbers.Real) else list(topk)
    if not ks or not all(_is_number(k) and 0 < k <= 100 for k in ks):
        raise ConfigError(f"topk must be percentages in (0, 100], got {topk!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise ConfigError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    return ks


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _scipy_stat(fn: Callable, x: Sequence[float], y: Sequence[float]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN
        return float(fn(x, y).statistic)


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    return np.clip(r, -1.0, 1.0)


def _precisions(pred: np.ndarray, true: np.ndarray, topk: Sequence[float]
                ) -> dict[str, np.ndarray]:
    """precision_at_{k} per row: share of the predicted top-k% that is truly top-k%."""
    n = pred.shape[1]
    true_by_pred = np.take_along_axis(true, np.argsort(-pred, axis=1, kind="stable"), axis=1)
    true_desc = -np.sort(-true, axis=1)
    out = {}
    for k in topk:
        size = topk_size(n, k)
        hits = true_by_pred[:, :size] >= true_desc[:, size - 1:size]
        out[f"precision_at_{k:g}"] = hits.mean(axis=1)
    return out


def _top1(pred: np.ndarray, true: np.ndarray, optimum: float | None) -> dict[str, Any]:
    """What a search that trusts ``pred`` would get: the top-scored arch's truth."""
    acc = float(true[int(np.argmax(pred))])
    best = float(true.max())
    out: dict[str, Any] = {"top1_true_acc": acc, "top1_true_rank": int((true > acc).sum()) + 1,
                           "regret": best - acc}
    if optimum is not None:
        if not math.isfinite(optimum) or optimum < best - 1e-9:
            raise ConfigError(f"optimum {optimum} is below the best true value {best} among the "
                              "evaluated archs; pass the optimum of the same dataset/split")
        out["regret_global"] = float(optimum) - acc
    return out


def _percentile_ci(values: np.ndarray) -> list[float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return [math.nan, math.nan]
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [float(lo), float(hi)]
