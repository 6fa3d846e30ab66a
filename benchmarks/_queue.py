"""The benchmark scripts' cell loop over the product's file-system queue.

Claims are :mod:`nasengine.study.queue`'s (the same one ``nasengine study`` runs its
workers on): a worker claims a cell by atomically creating ``<cell>/.claimed`` with its
pid, and a claim whose process has died is taken over (training then resumes from the
cell's last checkpoint). Method comparisons are study configs now
(``benchmarks/studies/*.toml``, ``nasengine study``); these scripts remain for what a
study does not measure (gradient variance, sampler overhead, within-leaf tau).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterable

from nasengine.checkpoint import atomic_write_json
from nasengine.study.config import slug
from nasengine.study.queue import claim, release


def cell_dir(root: Path, variant: str, seed: int) -> Path:
    """``<root>/cells/<method>/seed<k>``: a study's layout, so that ``nasengine study`` with the
    same methods and ``--out <root>`` reuses these runs (and their rankings) as its cells."""
    return root / "cells" / slug(variant) / f"seed{seed}"


def run_cells(study: str, cells: Iterable[tuple[str, int]], root: Path,
              run: Callable[[str, int, Path], dict[str, Any]],
              summary_only: bool = False) -> list[dict[str, Any]]:
    """Run each unfinished (variant, seed) cell this worker can claim; return every finished row.

    A cell is finished when its ``<study>_row.json`` exists, so a study is resumable and any
    number of workers can share it; the rows of cells other workers finished are collected
    too. The file is per study because studies share cells (symlinked baselines).
    """
    cells, row_file = list(cells), f"{study}_row.json"
    for variant, seed in cells:
        out = cell_dir(root, variant, seed)
        if summary_only or (out / row_file).exists() or not claim(out):
            continue  # done, or another worker has it
        try:
            row = {"variant": variant, "seed": seed, **run(variant, seed, out)}
            atomic_write_json(out / row_file, row)
        finally:
            release(out)
        print(f"{variant} seed {seed}: {row}", flush=True)
    return [json.loads(path.read_text()) for variant, seed in cells
            if (path := cell_dir(root, variant, seed) / row_file).exists()]
