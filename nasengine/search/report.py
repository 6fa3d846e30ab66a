"""What a search found, judged by the ground truth when the space has one.

The supernet's favourite is only as good as its ranking, so the report gives the
incumbent's true accuracy after every trial and its regret against the best arch in
the whole benchmark, next to the supernet score that chose it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoint import atomic_write_json
from ..plots import front_plot, line_plot
from .pareto import TrueFront, pareto_front
from .arch_search import SearchResult

TRADE_OFF = ("maximize", "minimize")
"""(accuracy, cost): the directions of a hardware-aware search."""

Truth = Callable[[str], float]
"""Official arch string -> true accuracy (%)."""


def search_report(result: SearchResult, out: Path, identity: dict[str, Any], *,
                  truth: Truth | None = None, optimum: float | None = None,
                  seconds: float | None = None,
                  checkpoint: dict[str, Any] | None = None,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``search.json`` (and ``search.png`` with a ground truth); return the report.

    ``seconds`` is the search's own time (its trials' durations, resumed or not);
    ``checkpoint`` how far the supernet was trained (epoch, epochs, finished).
    ``extra`` joins the report as it is (where the study is, the Pareto front).
    ``optimum`` is the best arch of the whole benchmark, also under a complexity limit
    (the best arch within the limit would need every arch's complexity).
    """
    incumbents = result.incumbents()
    report: dict[str, Any] = {"search": identity, "trials": len(result.trials),
                              "evaluations": result.evaluations, "seconds": seconds,
                              "rejected": result.rejected,
                              "best": dict(result.best), "checkpoint": checkpoint,
                              **(extra or {})}
    if truth is not None:
        true_inc = [truth(t["arch"]) for t in incumbents]
        report["best"]["true_acc"] = true_inc[-1]
        report["incumbent_true_acc"] = true_inc
        if optimum is not None:
            report["best"]["regret"] = optimum - true_inc[-1]
            report["optimum"] = optimum
        n = np.arange(1, len(true_inc) + 1)
        line_plot(n, {"incumbent (supernet's best so far)": (true_inc, np.zeros(len(n)))},
                  out / "search.png", xlabel="trials", ylabel="true accuracy (%)",
                  title=f"{identity['optimizer']} search",
                  reference={"best in the benchmark": optimum} if optimum is not None else None)
    report["trials_log"] = result.trials
    atomic_write_json(out / "search.json", report)
    return report


def pareto_report(result: SearchResult, out: Path, cost: str, *, truth: Truth | None = None,
                  space_points: np.ndarray | None = None) -> dict[str, Any]:
    """The found Pareto front (supernet score vs ``cost``), its plot ``pareto.png`` and,
    given the truth of every arch of the space (``space_points``: true accuracy, cost
    per arch), the normalised hypervolume of the found front at its archs' true
    accuracy against the true front's. Returns the ``pareto`` part of the report.

    Hypervolume box: from the best accuracy and lowest cost of the space (ideal) to the
    true front's worst accuracy and highest cost (nadir), each objective scaled to [0, 1].
    """
    values = np.asarray([t["values"] for t in result.trials], dtype=np.float64)
    chosen = [result.trials[i] for i in pareto_front(values, TRADE_OFF)]
    front = sorted(({"arch": t["arch"], "score": t["values"][0], "cost": t["values"][1]}
                    for t in chosen), key=lambda f: f["cost"])  # cheapest first
    report: dict[str, Any] = {"cost": cost, "front": front}
    fronts = {"found (supernet score)": np.asarray([[f["cost"], f["score"]] for f in front])}
    if truth is not None:
        for f in front:
            f["true_acc"] = truth(f["arch"])
        found = np.asarray([[f["true_acc"], f["cost"]] for f in front])
        fronts["found (true accuracy)"] = found[:, ::-1]
        if space_points is not None:
            true = TrueFront.of(space_points)
            ratio = true.ratio(found)
            report["hypervolume"] = {"found": ratio * true.hypervolume,
                                     "true_front": true.hypervolume, "ratio": ratio}
            fronts["true Pareto front"] = true.points[:, ::-1]
    report["plot"] = str(front_plot(fronts, out / "pareto.png", cloud=values[:, ::-1],
                                    xlabel=cost, ylabel="accuracy (%)",
                                    title=f"{len(result.trials)} trials"))
    return report
