"""Run a study: every unfinished cell in parallel worker processes, then one report.

Each worker is a process that claims cells one at a time (``queue``); with ``workers``
processes the cells run ``workers`` at a time, each on ``threads`` (default 1) torch threads,
since small NB201 supernets scale better across processes than across threads. A killed
study resumes: finished cells are kept, a half-trained cell continues from its checkpoint.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

from ..checkpoint import atomic_write_json
from ..errors import NasEngineError
from .cell import check_cell, load_result, work
from .config import Cell, StudyConfig
from .report import study_report


def run_study(study: StudyConfig, out: str | Path, workers: int | None = None,
              report_only: bool = False, log: Callable[[str], None] = print,
              progress: bool = False) -> dict[str, Any]:
    """Run (or resume) ``study`` in ``out`` and write its report; returns study.json's dict."""
    out = Path(out)
    cells = study.cells(out)
    pending = [c for c in cells if not check_cell(c)]  # refuses cells of another protocol
    atomic_write_json(out / "study_config.json", dataclasses.asdict(study))
    if pending and not report_only:
        n = min(workers or study.workers, len(pending))
        if any(c.config.estimate_cost for c in pending):
            from ..cost import format_estimate, estimate_cost

            log(format_estimate(estimate_cost(pending[0].config), cells=len(pending),
                                  workers=n))
        log(f"study: {len(pending)} of {len(cells)} cells to run, {n} worker(s); "
            f"{len(cells) - len(pending)} finished")
        _run_workers(study, out, n, log, progress)
    results = {(c.method, c.seed): load_result(c) for c in cells if check_cell(c)}
    if not results:
        raise NasEngineError(f"no finished cell in {out / 'cells'} yet; run the study without "
                             "--report-only first")
    return study_report(study, cells, results, out)


def _run_workers(study: StudyConfig, out: Path, n: int, log: Callable[[str], None],
                 progress: bool) -> None:
    if n <= 1:
        work(study.cells(out), log, progress)
        return
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    try:
        with ProcessPoolExecutor(n, mp_context=context) as pool:
            for future in [pool.submit(_worker, study, out) for _ in range(n)]:
                future.result()  # re-raises a worker's error (NasEngineError: one line)
    except BrokenProcessPool:
        raise NasEngineError(f"a study worker process died (killed, or out of memory); rerun "
                             f"the same command to resume {out} with its finished cells, or "
                             "use fewer --workers") from None


def _worker(study: StudyConfig, out: Path) -> int:
    """One worker process: 1 torch thread per cell unless the cell's config says otherwise."""
    cells = [_one_thread(c) for c in study.cells(out)]
    return work(cells, lambda line: print(line, flush=True))


def _one_thread(cell: Cell) -> Cell:
    if cell.config.threads is None:
        cell.config.threads = 1  # a machine field: not part of the cell's identity
    return cell
