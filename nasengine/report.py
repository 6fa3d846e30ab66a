"""Ranking reports: supernet scores vs ground truth, beside the #params proxy.

Every report records how it was produced (BN protocol, images, arch set) and
shows whether the supernet beats the trivial "more parameters is better"
predictor, the baseline a one-shot ranking must clear to mean anything.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .checkpoint import atomic_write_json, atomic_write_text
from .metrics import kendall_tau, ranking_metrics
from .plots import scatter_ranking
from .space import Sample

if TYPE_CHECKING:  # pragma: no cover
    from .api import Pipeline

SUMMARY_KEYS = ("kendall_tau", "spearman_rho", "pearson_r", "precision_at_5", "precision_at_10",
                "top1_true_acc", "top1_true_rank", "regret")


PRECISION_NOTE = ("precision_at_k: the share of the supernet's top k% of the archs that is "
                  "also in the true top k% (k is a percentage, not a count).")


def ranking_report(pipe: Pipeline, archs: Sequence[Sample], scores: Sequence[float],
                   protocol: dict[str, Any], seconds: float, out: Path) -> dict[str, Any]:
    """Compare ``scores`` with the oracle; write ranking.json/.md/.png and scores.csv.

    Without a ground truth (the space has none) the report ranks the archs by the
    supernet beside their measured complexity, with no tau.
    """
    ec, truth = pipe.config.evaluate, pipe.ground_truth
    names = [pipe.space.format(a) for a in archs]
    params = truth.params_of(names) if truth else None
    if params is None:
        params = [pipe.complexity(a)["params"] / 1e6 for a in archs]
    report = {
        "config": pipe.config.to_dict(),
        "protocol": {**protocol, "archs": ec.archs, "n_archs": len(archs),
                     "oracle": truth.name if truth else None},
        "seconds": seconds, "archs_per_s": len(archs) / max(seconds, 1e-9),
        "notes": {"precision_at_k": PRECISION_NOTE},
    }
    out.mkdir(parents=True, exist_ok=True)
    if truth is None:
        return _untruthed_report(report, names, scores, params, out)
    true = truth.accuracies(names)
    kw = {"n_bootstrap": ec.bootstrap, "seed": ec.arch_seed, "optimum": truth.best()}
    report.update(supernet=ranking_metrics(scores, true, **kw),
                  params_proxy=ranking_metrics(params, true, **kw))
    atomic_write_json(out / "ranking.json", report)
    atomic_write_text(out / "scores.csv", _scores_csv(names, scores, true, params))
    atomic_write_text(out / "ranking.md", summary_markdown(report))
    scatter_ranking(scores, true, out / "ranking.png", proxy=params,
                    title=f"{pipe.config.supernet.space} C={pipe.config.supernet.channels} "
                          f"N={pipe.config.supernet.cells}, BN={protocol['bn']}")
    return report


def _untruthed_report(report: dict[str, Any], names: Sequence[str], scores: Sequence[float],
                      params: Sequence[float], out: Path) -> dict[str, Any]:
    """The supernet's order and the archs' size, when the space has no ground truth."""
    order = sorted(range(len(names)), key=lambda i: -scores[i])
    report["supernet"] = {"n": len(names), "top": [
        {"arch": names[i], "score": scores[i], "params_M": params[i]} for i in order[:10]]}
    report["tau_score_vs_params"] = kendall_tau(scores, params) if len(names) > 1 else None
    atomic_write_json(out / "ranking.json", report)
    atomic_write_text(out / "scores.csv", _scores_csv(names, scores, None, params))
    lines = [f"# Supernet ranking ({len(names)} archs, no ground truth)", "",
             "The space has no ground truth, so no tau against it.", "",
             "| rank | arch | supernet score | params (M) |", "| --- | --- | --- | --- |"]
    lines += [f"| {r} | `{t['arch']}` | {t['score']:.2f} | {t['params_M']:.4f} |"
              for r, t in enumerate(report["supernet"]["top"], start=1)]
    atomic_write_text(out / "ranking.md", "\n".join(lines) + "\n")
    return report


def _scores_csv(names: Sequence[str], scores: Sequence[float], true: Sequence[float] | None,
                params: Sequence[float]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    if true is None:
        writer.writerow(["arch", "supernet_acc", "params_M"])
        writer.writerows(zip(names, scores, params))
    else:
        writer.writerow(["arch", "supernet_acc", "true_acc", "params_M"])
        writer.writerows(zip(names, scores, true, params))
    return buf.getvalue()


def summary_markdown(report: dict[str, Any]) -> str:
    """A side-by-side table: supernet vs #params proxy, with 95% bootstrap CIs."""
    p = report["protocol"]
    lines = [f"# Ranking report ({p['n_archs']} archs, oracle {p['oracle']})", "",
             f"BN protocol: `{p['bn']}`" + "".join(f", {k}={v}" for k, v in p.items()
                                                   if k.startswith("recal"))
             + f"; {p['eval_images']} held-out images per arch; "
               f"{report['archs_per_s']:.1f} archs/s.",
             "", "| metric | supernet | #params proxy |", "| --- | --- | --- |"]
    for key in SUMMARY_KEYS:
        cells = [_cell(report[who], key) for who in ("supernet", "params_proxy")]
        label = f"{key} (top {key.rsplit('_', 1)[1]}%)" if key.startswith("precision_at") else key
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
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


def verdict(report: dict[str, Any]) -> str:
    """One honest sentence: does the supernet rank better than counting parameters?"""
    tau_s, tau_p = report["supernet"]["kendall_tau"], report["params_proxy"]["kendall_tau"]
    word = "beats" if tau_s > tau_p else "does NOT beat"
    return (f"The supernet ({tau_s:+.3f}) {word} the #params proxy ({tau_p:+.3f}) on Kendall tau"
            f" over {report['protocol']['n_archs']} archs.")
