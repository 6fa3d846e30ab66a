"""A job queue on the file system: several worker processes share one study.

A worker claims a study cell by atomically creating ``<cell>/.claimed`` with its
pid; a claim whose process has died is taken over (training then resumes from the
cell's last checkpoint). Run one 1-thread worker per core: small NB201 supernets
scale poorly across threads, so two workers finish a study sooner than one
2-thread process.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from nasengine.checkpoint import atomic_write_json

LOCK = ".claimed"


def claim(cell: Path) -> bool:
    """True if this process now owns ``cell``; False if a live worker has it."""
    cell.mkdir(parents=True, exist_ok=True)
    lock = cell / LOCK
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        text = lock.read_text().strip()
        if text.isdigit() and Path(f"/proc/{text}").exists():
            return False
        lock.unlink(missing_ok=True)  # its worker died: take it over
        return claim(cell)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def release(cell: Path) -> None:
    (cell / LOCK).unlink(missing_ok=True)


def cell_dir(root: Path, variant: str, seed: int) -> Path:
    return root / variant.replace("&", "") / f"seed{seed}"


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
