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
from ..plots import line_plot
from .study import SearchResult

Truth = Callable[[str], float]
"""Official arch string -> true accuracy (%)."""


def search_report(result: SearchResult, out: Path, identity: dict[str, Any], *,
                  truth: Truth | None = None, optimum: float | None = None,
                  seconds: float | None = None,
                  checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``search.json`` (and ``search.png`` with a ground truth); return the report.

    ``seconds`` is the search's own time (its trials' durations, resumed or not);
    ``checkpoint`` how far the supernet was trained (epoch, epochs, finished).
    ``optimum`` is the best arch of the whole benchmark, also under a complexity limit
    (the best arch within the limit would need every arch's complexity).
    """
    incumbents = result.incumbents()
    report: dict[str, Any] = {"search": identity, "trials": len(result.trials),
                              "evaluations": result.evaluations, "seconds": seconds,
                              "rejected": result.rejected,
                              "best": dict(result.best), "checkpoint": checkpoint}
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
