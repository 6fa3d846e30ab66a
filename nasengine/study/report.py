"""The study report: study.json, study.md, PNGs and the CSV data behind each PNG.

Rows are methods (mean ± std over seeds, 95% bootstrap CI of the mean) and reference
predictors scored on the same archs (#params, FLOPs, and the training-free proxies that
``[config] proxies.names`` lists); a second table tests every method
against the baseline, paired over seeds and archs (see :mod:`.analysis`).
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..benchmark import NB201Table, accuracy_column
from ..checkpoint import atomic_write_json, atomic_write_text
from ..plots import method_scatter
from ..train import read_metrics
from .analysis import COLUMNS, CellStats, Truth, cell_stats, paired_test, summarize
from .config import Cell, StudyConfig

#: datasets whose truth is reported for the chosen arch besides the oracle's
OTHER_DATASETS = ("cifar100", "ImageNet16-120")


def study_report(study: StudyConfig, cells: Sequence[Cell], results: dict[tuple[str, int], dict],
                 out: Path) -> dict[str, Any]:
    """Analyse the finished cells (``results`` by (method, seed)) and write the report."""
    ec = cells[0].config.evaluate
    table = NB201Table.from_path(ec.oracle)
    seeds = [s for s in study.seeds if any((m, s) in results for m in study.methods)]
    truths = {s: _truth(table, _archs(results, s), ec) for s in seeds}
    stats: dict[str, dict[int, CellStats]] = {}
    for (method, seed), result in results.items():
        stats.setdefault(method, {})[seed] = cell_stats(
            result["scores"], truths[seed], ec.bootstrap, _resample_seed(ec.arch_seed, seed))
    for name, predictor in _references(table).items():
        stats[name] = {s: cell_stats([predictor(a) for a in _archs(results, s)], truths[s],
                                     ec.bootstrap, _resample_seed(ec.arch_seed, s))
                       for s in seeds}
    for name, by_seed in _proxy_references(cells[0].config, results, seeds).items():
        stats[name] = {s: cell_stats(values, truths[s], ec.bootstrap,
                                     _resample_seed(ec.arch_seed, s))
                       for s, values in by_seed.items()}
    methods = [m for m in study.methods if m in stats]
    report = {
        "title": study.title or f"{len(study.methods)} methods x {len(study.seeds)} seeds",
        "preset": study.preset, "seeds": study.seeds, "baseline": study.baseline,
        "budget": _budget(results), "protocol": _protocol(results, ec), "bootstrap": ec.bootstrap,
        "methods": methods, "references": [r for r in stats if r not in study.methods],
        "rows": {name: summarize([by_seed[s] for s in sorted(by_seed)])
                 for name, by_seed in stats.items()},
        "paired": _paired(study, stats),
        "missing": [f"{c.method} seed {c.seed}" for c in cells if (c.method, c.seed) not in results],
        "track": _track(cells, results),
        "cells": {f"{m} seed {s}": {k: r[k] for k in ("train_seconds", "rank_seconds", "steps")}
                  for (m, s), r in results.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    _figures(report, stats, results, truths, cells, out)
    atomic_write_json(out / "study.json", report)
    atomic_write_text(out / "study.md", study_markdown(report))
    return report


def _archs(results: dict[tuple[str, int], dict], seed: int) -> list[str]:
    """The archs of ``seed``'s cells (one list: the protocol check makes them equal)."""
    return next(r["archs"] for (_, s), r in results.items() if s == seed)


def _resample_seed(arch_seed: int, seed: int) -> int:
    """The bootstrap stream of one seed: shared by every method (paired), differs by seed."""
    return 1_000_003 * arch_seed + seed


def _truth(table: NB201Table, archs: list[str], ec: Any) -> Truth:
    oracle = np.array([table.accuracy(a, ec.oracle_dataset, ec.oracle_split) for a in archs])
    other = {ds: np.array([table.accuracy(a, ds, "test") for a in archs])
             for ds in OTHER_DATASETS if accuracy_column(ds, "test", 200) in table.metrics()}
    return Truth(oracle, table.best_accuracy(ec.oracle_dataset, ec.oracle_split), other)


def _references(table: NB201Table) -> dict[str, Any]:
    """Reference predictors on the same archs: #params, FLOPs (more is predicted better)."""
    refs = {"#params": ("params_M_cifar10", table.params),
            "FLOPs": ("flops_M_cifar10", table.flops)}
    return {name: fn for name, (column, fn) in refs.items() if column in table.metrics()}


def _proxy_references(config: Any, results: dict[tuple[str, int], dict], seeds: list[int]
                      ) -> dict[str, dict[int, list[float]]]:
    """The training-free rivals of the study's ``[config] proxies.names``, on each seed's
    archs (from the proxy cache; computed there first if missing), ordered as the ranking
    report orders them."""
    if not config.proxies.names:
        return {}
    from ..families import get_family
    from ..proxies.setup import proxy_columns
    from ..report import orderable  # -inf ("ignores its input") below every finite score

    space = get_family(config.supernet.space).space()
    archs_of = {s: tuple(_archs(results, s)) for s in seeds}  # seeds share them (arch_seed)
    scored = {archs: proxy_columns(config, [space.parse(a) for a in archs])
              for archs in dict.fromkeys(archs_of.values())}
    columns = {s: scored[archs_of[s]] for s in seeds}
    return {name: {s: [float(v) for v in orderable(columns[s][name])] for s in seeds}
            for name in config.proxies.names}


def _budget(results: dict[tuple[str, int], dict]) -> dict[str, Any]:
    any_result = next(iter(results.values()))
    epochs, images = any_result["config"]["train"]["epochs"], any_result["train_images"]
    return {"epochs": epochs, "train_images": images, "images_seen": epochs * images,
            "steps": sorted({r["steps"] for r in results.values()})}


def _protocol(results: dict[tuple[str, int], dict], ec: Any) -> dict[str, Any]:
    return {**next(iter(results.values()))["protocol"],
            "n_archs": len(next(iter(results.values()))["archs"]), "archs": ec.archs,
            "arch_seed": ec.arch_seed, "oracle": f"{ec.oracle_dataset}/{ec.oracle_split}"}


def _paired(study: StudyConfig, stats: dict[str, dict[int, CellStats]]) -> dict[str, Any]:
    """Every method (and reference) against the baseline over the seeds both finished."""
    base = stats.get(study.baseline, {})
    out = {}
    for name, by_seed in stats.items():
        common = sorted(set(base) & set(by_seed))
        if name != study.baseline and common:
            out[name] = paired_test([by_seed[s] for s in common], [base[s] for s in common])
    return out


def _track(cells: Sequence[Cell], results: dict) -> dict[str, dict[str, list[float]]]:
    """method -> epoch -> the seeds' tracked Kendall tau (``evaluate.track_every``)."""
    out: dict[str, dict[str, list[float]]] = {}
    for cell in cells:
        if (cell.method, cell.seed) in results:
            for record in read_metrics(cell.path):
                if "track" in record:
                    out.setdefault(cell.method, {}).setdefault(str(record["epoch"]), []).append(
                        record["track"]["kendall_tau"])
    return out


# -- figures and their data ------------------------------------------------------------
def _figures(report: dict[str, Any], stats: dict[str, dict[int, CellStats]], results: dict,
             truths: dict[int, Truth], cells: Sequence[Cell], out: Path) -> None:
    from ..plots import line_plot, seed_plot

    figures = {}
    rows = [(name, seed, key, value) for name, by_seed in stats.items()
            for seed, c in sorted(by_seed.items()) for key, value in c.point.items()]
    atomic_write_text(out / "figures.csv", _csv(["method", "seed", "figure", "value"], rows))
    taus = {m: [stats[m][s].point["kendall_tau"] for s in sorted(stats[m])]
            for m in report["methods"]}
    refs = {r: report["rows"][r]["kendall_tau"]["mean"] for r in report["references"]}
    figures["seeds_tau"] = seed_plot(taus, out / "seeds_tau.png", ylabel="Kendall τ",
                                     title="Kendall τ per seed", reference=refs or None)
    first = min(truths)
    panels = {m: (results[(m, first)]["scores"], truths[first].oracle)
              for m in report["methods"] if (m, first) in results}
    scatter = [(m, first, a, p, t) for m, (pred, true) in panels.items()
               for a, p, t in zip(results[(m, first)]["archs"], pred, true)]
    atomic_write_text(out / "scatter.csv", _csv(["method", "seed", "arch", "score", "true_acc"],
                                                scatter))
    figures["scatter"] = method_scatter(panels, out / "scatter.png",
                                        title=f"supernet score vs true accuracy (seed {first})")
    if report["track"]:
        curve = [(m, e, tau) for m, by_epoch in report["track"].items()
                 for e, values in by_epoch.items() for tau in values]
        atomic_write_text(out / "tau_epochs.csv", _csv(["method", "epoch", "kendall_tau"], curve))
        spreads = {m: [_mean_std(v) for v in by_epoch.values()]
                   for m, by_epoch in report["track"].items()}
        series = {m: ([int(e) for e in by_epoch], [mean for mean, _ in spreads[m]],
                      [std for _, std in spreads[m]]) for m, by_epoch in report["track"].items()}
        figures["tau_epochs"] = line_plot(None, series, out / "tau_epochs.png", xlabel="epoch",
                                          ylabel="Kendall τ (tracked archs)",
                                          title="ranking over training (mean ± std over seeds)")
    report["figures"] = {k: Path(v).name for k, v in figures.items()}
    report["samplers"] = [str(c.path.relative_to(out) / "sampling.png") for c in cells
                          if (c.path / "sampling.png").exists()]


def _csv(header: list[str], rows: list[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# -- markdown ------------------------------------------------------------------------------
def study_markdown(report: dict[str, Any]) -> str:
    """study.md: what every cell shared, the figures table, the paired tests, the plots."""
    lines = [*_md_header(report), *_md_figures(report), *_md_paired(report),
             *_md_track(report), "",
             "Seconds per cell, training + ranking (mean over seeds; wall clock, so shared "
             "machines inflate it): " + "; ".join(
                 f"{m} {_mean_of(report, m, 'train_seconds'):.0f} + "
                 f"{_mean_of(report, m, 'rank_seconds'):.0f}" for m in report["methods"]) + ".",
             "", *(f"![{k}]({v})" for k, v in report["figures"].items())]
    if report["samplers"]:
        lines += ["", "Sampler distributions: " + ", ".join(f"[{s}]({s})"
                                                            for s in report["samplers"])]
    return "\n".join(lines) + "\n"


def _md_header(report: dict[str, Any]) -> list[str]:
    b, p = report["budget"], report["protocol"]
    lines = [f"# Study: {report['title']}", "",
             f"Preset `{report['preset']}`, seeds {report['seeds']}. Budget per cell: "
             f"{b['epochs']} epochs x {b['train_images']:,} training images = "
             f"{b['images_seen']:,} images ({', '.join(map(str, b['steps']))} SGD steps).",
             f"Evaluation, the same for every cell: {p['n_archs']} archs ({p['archs']}, arch seed "
             f"{p['arch_seed']}), BN `{p['bn']}`, {p['eval_images']} held-out images, "
             f"oracle {p['oracle']}.",
             f"Figures: mean ± std over seeds [95% CI of the mean, {report['bootstrap']} "
             "bootstrap resamples of the archs within each seed].", ""]
    if report["missing"]:
        lines += [f"**Not finished yet:** {', '.join(report['missing'])}.", ""]
    return lines


def _md_figures(report: dict[str, Any]) -> list[str]:
    keys = [k for k in COLUMNS if any(k in row for row in report["rows"].values())]
    lines = ["| method | seeds | " + " | ".join(COLUMNS[k] for k in keys) + " |",
             "| --- " * (len(keys) + 2) + "|"]
    for name, row in report["rows"].items():
        label = f"*{name}* (reference)" if name in report["references"] else name
        lines.append(f"| {label} | {len(row['kendall_tau']['per_seed'])} | "
                     + " | ".join(_cell(row.get(k)) for k in keys) + " |")
    return lines


def _md_paired(report: dict[str, Any]) -> list[str]:
    lines = ["", f"Paired test of Kendall τ against `{report['baseline']}` (same seeds, same "
             "resampled archs): paired bootstrap over archs of the seed-mean difference, and a "
             "paired t-test over seeds. A difference whose per-seed signs disagree is "
             "\"mixed\", whatever its p.", "",
             "| method | Δτ (mean) | per seed | 95% CI | p (bootstrap) | p (t-test) | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, t in report["paired"].items():
        lo, hi = t["ci95"]
        ci = f"[{lo:+.3f}, {hi:+.3f}]" if math.isfinite(lo) else "-"
        lines.append(f"| {name} | {t['delta']:+.3f} | "
                     + " / ".join(f"{d:+.3f}" for d in t["per_seed_delta"]) + f" | {ci} | "
                     f"{_p(t['p_bootstrap'], report['bootstrap'])} | {_p(t['p_ttest'])} | "
                     f"{t['verdict']} |")
    return lines


def _md_track(report: dict[str, Any]) -> list[str]:
    """The ranking-over-training curve as numbers: Kendall τ of the tracked archs per epoch,
    mean ± std over seeds (the figure's data, readable without the plot)."""
    if not report["track"]:
        return []
    epochs = sorted({int(e) for by_epoch in report["track"].values() for e in by_epoch})
    lines = ["", "Ranking over training: Kendall τ of the tracked archs after each epoch "
             "(mean ± std over seeds).", "",
             "| method | " + " | ".join(f"ep {e}" for e in epochs) + " |",
             "| --- " * (len(epochs) + 1) + "|"]
    for method, by_epoch in report["track"].items():
        values = {int(e): v for e, v in by_epoch.items()}
        lines.append(f"| {method} | " + " | ".join(_spread(values.get(e, [])) for e in epochs)
                     + " |")
    return lines


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    mean, std = _mean_std(values)
    return f"{mean:+.2f} ± {std:.2f}"


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std over seeds (std 0 for one seed)."""
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _mean_of(report: dict[str, Any], method: str, key: str) -> float:
    values = [c[key] for name, c in report["cells"].items() if name.rsplit(" seed ", 1)[0] == method]
    return sum(values) / len(values)


def _cell(figure: dict[str, Any] | None) -> str:
    if figure is None or not math.isfinite(figure["mean"]):
        return "-"
    lo, hi = figure["ci95"]
    d = 2 if abs(figure["mean"]) >= 10 else 3
    ci = f" [{lo:.{d}f}, {hi:.{d}f}]" if math.isfinite(lo) else ""  # none with bootstrap = 0
    return f"{figure['mean']:.{d}f} ± {figure['std']:.{d}f}{ci}"


def _p(value: float | None, resamples: int = 0) -> str:
    """A p-value; a bootstrap p of 0 means below one in ``resamples``."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"< {1 / resamples:.2g}" if value == 0 and resamples else f"{value:.3g}"
