"""Ranking reports: supernet scores vs ground truth, beside every free rival.

A report is built from data (:class:`RankingData`: arch names, the supernet's scores,
the truth, the rivals' scores on the same archs, the protocol), never from a pipeline,
so it can be made from any source and tested on a small synthetic table. Every report
records how it was produced (BN protocol, images, arch set) and says whether the
supernet beats what costs nothing: the #params proxy and the configured training-free
proxies (:mod:`nasengine.proxies`), each with the same metrics and bootstrap CIs.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .checkpoint import atomic_write_json, atomic_write_text
from .metrics import kendall_tau, ranking_metrics
from .plots import scatter_panels

SUMMARY_KEYS = ("kendall_tau", "spearman_rho", "pearson_r", "precision_at_5", "precision_at_10",
                "top1_true_acc", "top1_true_rank", "regret")


PRECISION_NOTE = ("precision_at_k: the share of the supernet's top k% of the archs that is "
                  "also in the true top k% (k is a percentage, not a count).")


@dataclass
class RankingData:
    """Everything a ranking report shows, in arch order."""

    names: list[str]
    scores: Sequence[float]  # the supernet's
    truth: Sequence[float] | None  # None: the space has no ground truth (no tau)
    params: Sequence[float]  # #params (M): the trivial rival, always shown
    protocol: dict[str, Any]
    rivals: dict[str, Sequence[float]] = field(default_factory=dict)  # proxy -> scores
    hybrid: Sequence[float] | None = None  # supernet + proxies, by a truth-free rule
    hybrid_rule: str = "log-rank sum"  # that rule, in words (nasengine.proxies.hybrid)
    optimum: float | None = None  # best truth in the whole space (regret_global)


def ranking_report(data: RankingData, out: Path, *, seconds: float, config: dict[str, Any],
                   title: str = "", n_bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Compare every scorer with the truth; write ranking.json/.md/.png and scores.csv."""
    kw = {"n_bootstrap": n_bootstrap, "seed": seed, "optimum": data.optimum}
    out.mkdir(parents=True, exist_ok=True)
    if data.truth is None:
        return _untruthed_report(data, out, seconds=seconds, config=config)
    report = {
        "config": config,
        "protocol": {**data.protocol, "n_archs": len(data.names)},
        "seconds": seconds, "archs_per_s": len(data.names) / max(seconds, 1e-9),
        "supernet": ranking_metrics(data.scores, data.truth, **kw),
        "params_proxy": ranking_metrics(data.params, data.truth, **kw),
        "rivals": {name: ranking_metrics(orderable(v), data.truth, **kw)
                   for name, v in data.rivals.items()},
        "notes": {"precision_at_k": PRECISION_NOTE},
    }
    if data.hybrid is not None:
        report["hybrid"] = ranking_metrics(data.hybrid, data.truth, **kw)
        report["hybrid_rule"] = data.hybrid_rule
    atomic_write_json(out / "ranking.json", report)
    atomic_write_text(out / "scores.csv", _scores_csv(data))
    atomic_write_text(out / "ranking.md", summary_markdown(report))
    panels = {"supernet score": data.scores, "#params (M)": data.params,
              **({hybrid_label(report): data.hybrid} if data.hybrid is not None else {}),
              **{name: orderable(v) for name, v in data.rivals.items()}}
    scatter_panels(panels, data.truth, out / "ranking.png", title=title)
    return report


def orderable(values: Sequence[float]) -> np.ndarray:
    """Scores with -inf ("worst possible", e.g. a network that ignores its input) moved
    just below the lowest finite score, so that rank metrics can use them."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    floor = finite.min() - 1.0 if finite.size else 0.0
    return np.where(np.isneginf(v), floor, v)


def _untruthed_report(data: RankingData, out: Path, *, seconds: float,
                      config: dict[str, Any]) -> dict[str, Any]:
    """The supernet's order and the archs' size, when the space has no ground truth."""
    names, scores, params = data.names, data.scores, data.params
    order = sorted(range(len(names)), key=lambda i: -scores[i])
    report = {
        "config": config, "protocol": {**data.protocol, "n_archs": len(names)},
        "seconds": seconds, "archs_per_s": len(names) / max(seconds, 1e-9),
        "supernet": {"n": len(names), "top": [
            {"arch": names[i], "score": scores[i], "params_M": params[i]} for i in order[:10]]},
        "tau_score_vs_params": kendall_tau(scores, params) if len(names) > 1 else None,
        "notes": {"precision_at_k": PRECISION_NOTE},
    }
    atomic_write_json(out / "ranking.json", report)
    atomic_write_text(out / "scores.csv", _scores_csv(data))
    lines = [f"# Supernet ranking ({len(names)} archs, no ground truth)", "",
             "The space has no ground truth, so no tau against it.", "",
             "| rank | arch | supernet score | params (M) |", "| --- | --- | --- | --- |"]
    lines += [f"| {r} | `{t['arch']}` | {t['score']:.2f} | {t['params_M']:.4f} |"
              for r, t in enumerate(report["supernet"]["top"], start=1)]
    atomic_write_text(out / "ranking.md", "\n".join(lines) + "\n")
    return report


def _scores_csv(data: RankingData) -> str:
    extra = ({"hybrid": data.hybrid} if data.hybrid is not None else {}) | data.rivals
    truth = {"true_acc": data.truth} if data.truth is not None else {}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["arch", "supernet_acc", *truth, "params_M", *extra])
    writer.writerows(zip(data.names, data.scores, *truth.values(), data.params, *extra.values()))
    return buf.getvalue()


def hybrid_label(report: dict[str, Any]) -> str:
    """The hybrid's column: "hybrid (its rule)", or "hybrid" in a report made before the
    rule was recorded."""
    return f"hybrid ({report['hybrid_rule']})" if "hybrid_rule" in report else "hybrid"


def scorer_columns(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's scorers in table order: supernet, hybrid, #params, each proxy."""
    return {"supernet": report["supernet"],
            **({hybrid_label(report): report["hybrid"]} if "hybrid" in report else {}),
            "#params proxy": report["params_proxy"], **report.get("rivals", {})}


def summary_markdown(report: dict[str, Any]) -> str:
    """A side-by-side table of every scorer, with 95% bootstrap CIs."""
    p = report["protocol"]
    columns = scorer_columns(report)
    lines = [f"# Ranking report ({p['n_archs']} archs, oracle {p['oracle']})", "",
             f"BN protocol: `{p['bn']}`" + "".join(f", {k}={v}" for k, v in p.items()
                                                   if k.startswith("recal"))
             + f"; {p['eval_images']} held-out images per arch; "
               f"{report['archs_per_s']:.1f} archs/s.",
             "", "| metric | " + " | ".join(columns) + " |",
             "| --- |" + " --- |" * len(columns)]
    for key in SUMMARY_KEYS:
        label = f"{key} (top {key.rsplit('_', 1)[1]}%)" if key.startswith("precision_at") else key
        lines.append(f"| {label} | " + " | ".join(_cell(m, key) for m in columns.values()) + " |")
    done = p.get("checkpoint")
    if done and not done["finished"]:
        lines += ["", f"**Unfinished supernet**: checkpoint of epoch {done['epoch']} of "
                      f"{done['epochs']}."]
    lines += ["", PRECISION_NOTE, "", verdict(report)]
    return "\n".join(lines) + "\n"


def _cell(metrics: dict[str, Any], key: str) -> str:
    value = metrics.get(key)
    if value is None:
        return "-"
    ci = metrics.get("ci95", {}).get(key)
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return f"{text} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else text


def strongest_rival(report: dict[str, Any]) -> tuple[str, float]:
    """The free rival (#params or a proxy) with the highest Kendall tau."""
    rivals = {"the #params proxy": report["params_proxy"]["kendall_tau"],
              **{f"the {name} proxy": m["kendall_tau"]
                 for name, m in report.get("rivals", {}).items()}}
    name = max(rivals, key=lambda k: (rivals[k], k == "the #params proxy"))
    return name, rivals[name]


def verdict(report: dict[str, Any]) -> str:
    """One honest sentence: does the supernet rank better than its strongest free rival?"""
    tau_s = report["supernet"]["kendall_tau"]
    name, tau_r = strongest_rival(report)
    word = "beats" if tau_s > tau_r else "does NOT beat"
    strongest = "" if name == "the #params proxy" and not report.get("rivals") else \
        "the strongest free rival, "
    text = (f"The supernet ({tau_s:+.3f}) {word} {strongest}{name} ({tau_r:+.3f}) on Kendall "
            f"tau over {report['protocol']['n_archs']} archs.")
    if "hybrid" in report:
        tau_h = report["hybrid"]["kendall_tau"]
        text += (f" The hybrid ranking ({tau_h:+.3f}) "
                 f"{'beats' if tau_h > max(tau_s, tau_r) else 'does NOT beat'} both.")
    return text
