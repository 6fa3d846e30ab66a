"""One study cell: train (resuming its checkpoint), score the study's archs, store the result.

A cell's ``cell.json`` holds the config it was made under, the archs it scored and their
scores. A finished cell is reused only if that config equals the study's for the cell;
otherwise the study stops with the differences, never mixing two protocols in one table.
"""
from __future__ import annotations

import csv
import json
import time
from typing import Any, Callable

from ..checkpoint import _differences, atomic_write_json
from ..config import from_dict
from ..errors import ConfigError
from .config import Cell, identity
from .queue import claim, release

RESULT = "cell.json"
FORMAT = "nasengine-study-cell/1"


def stored_config(cell: Cell) -> dict[str, Any] | None:
    """The identity a started cell was made under (finished or not), or None if new."""
    result, started = cell.path / RESULT, cell.path / "config.json"
    if result.exists():
        return identity(json.loads(result.read_text())["config"])
    if started.exists():
        return identity(from_dict(json.loads(started.read_text())))
    return None


def check_cell(cell: Cell) -> bool:
    """True if ``cell`` is finished; ConfigError if it was made under another config."""
    stored = stored_config(cell)
    if stored is not None:
        diff = _differences(stored, identity(cell.config))
        if diff:
            raise ConfigError(
                f"study cell {cell.path} was made under another protocol or config "
                f"({'; '.join(diff[:6])}{'; ...' if len(diff) > 6 else ''}); it is not reused: "
                "delete that folder to rerun the cell, or write the study to another --out")
    return (cell.path / RESULT).exists()


def load_result(cell: Cell) -> dict[str, Any]:
    return json.loads((cell.path / RESULT).read_text())


def run_cell(cell: Cell, progress: bool = False) -> dict[str, Any]:
    """Train the cell's supernet (from its last checkpoint), score the archs, write cell.json."""
    from .. import api
    from ..train import read_metrics

    pipe = api.train(cell.config, cell.path, resume=True, progress=progress)
    archs, evaluator = pipe.arch_sample(), pipe.evaluator()
    names = [pipe.space.format(a) for a in archs]
    start = time.perf_counter()
    scores = ranked_scores(cell, names)
    reused = scores is not None
    if scores is None:
        scores = evaluator.score_many(archs, progress=progress,
                                      workers=cell.config.evaluate.workers)
    records = read_metrics(cell.path)
    result = {"format": FORMAT, "method": cell.method, "seed": cell.seed,
              "config": identity(cell.config), "protocol": evaluator.describe(),
              "train_images": len(pipe.train_set), "steps": records[-1]["step"],
              "train_seconds": sum(r["seconds"] for r in records),
              "rank_seconds": time.perf_counter() - start,
              "archs": names, "scores": scores,
              "scored_by": "the run's ranking.json" if reused else "the study"}
    atomic_write_json(cell.path / RESULT, result)
    return result


def ranked_scores(cell: Cell, names: list[str]) -> list[float] | None:
    """The scores of ``names`` from a ``nasengine rank`` report already in the cell's folder,
    if it was made under the cell's exact config from its finished checkpoint; else None.

    A run trained and ranked outside the study (a benchmark script, a user's ``train`` and
    ``rank``) then joins the study without scoring its archs again; any difference in
    config, checkpoint or archs means they are scored afresh.
    """
    report, table = cell.path / "ranking.json", cell.path / "scores.csv"
    if not (report.exists() and table.exists()):
        return None
    ranking = json.loads(report.read_text())
    made = ranking.get("protocol", {}).get("checkpoint", {})
    try:  # a report written before a config field existed holds that field's default
        ranked_under = identity(from_dict(ranking.get("config", {})))
    except ConfigError:
        return None
    if _differences(ranked_under, identity(cell.config)) or not made.get("finished"):
        return None
    with table.open(newline="") as f:
        scored = {row["arch"]: float(row["supernet_acc"]) for row in csv.DictReader(f)}
    if set(scored) != set(names):
        return None
    return [scored[n] for n in names]


def work(cells: list[Cell], log: Callable[[str], None] = print, progress: bool = False) -> int:
    """Run every unfinished cell this process can claim; returns how many it ran."""
    ran = 0
    for cell in cells:
        if check_cell(cell) or not claim(cell.path):
            continue  # finished, or another worker has it
        try:
            if not check_cell(cell):  # it may have finished between the check and the claim
                result = run_cell(cell, progress)
                ran += 1
                log(f"{cell.method} seed {cell.seed}: trained {result['train_seconds']:.0f} s, "
                    f"ranked {len(result['archs'])} archs in {result['rank_seconds']:.0f} s")
        finally:
            release(cell.path)
    return ran

