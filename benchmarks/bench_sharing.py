"""Weight sharing vs weight entanglement on NB201: which ranks the space better?

Trains, per seed, the NB201 supernet under each sharing mechanism at one preset
(uniform single-path sampling, equal epochs) and ranks it against NB201 beside the
#params proxy:

* ``weight_sharing``: one module per op on every edge (the classic one-shot supernet);
* ``entangled``: ``nor_conv_1x1`` is the centre tap of ``nor_conv_3x3`` on the same
  edge (one weight, TangleNAS-style), so every 1x1 step also trains the 3x3 core.

Columns: rank metrics (mean ± std over seeds), supernet parameters, seconds per epoch.
Resumable and shareable by several 1-thread workers (``benchmarks/_queue.py``); the
``weight_sharing`` cells of the PA&DA study's uniform runs are the same config, so a
symlink ``runs/sharing/weight_sharing/seedN -> ../../pada/uniform/seedN`` reuses them.

Reproduce (two 1-thread workers share the study, then one call prints the table):
    for w in 1 2; do OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_sharing.py \\
        --threads 1 --seeds 0 1 2 & done; wait
    .venv/bin/python benchmarks/bench_sharing.py --seeds 0 1 2 --summary-only
Smoke (< 1 min, no meaning beyond "it runs"):
    .venv/bin/python benchmarks/bench_sharing.py --smoke
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from _queue import run_cells
from _table import (RANK_COLUMNS, add_study_arguments, apply_smoke_and_out, ranking_row,
                    run_overrides, variant_table, write_results)
from nasengine import api
from nasengine.config import load_config
from nasengine.train import read_metrics

VARIANTS = ("weight_sharing", "entangled")
COLUMNS = {**RANK_COLUMNS, "supernet params": "supernet_params", "s / epoch": "epoch_seconds"}


def run_cell(variant: str, seed: int, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Train (resumably), rank (cached), and summarise one cell."""
    config = load_config(args.preset, [f"seed={seed}", *run_overrides(args),
                                       f"supernet.sharing={variant}"])
    pipe = api.train(config, out, resume=True, progress=False)
    seconds = [r["seconds"] for r in read_metrics(out)]
    row: dict[str, Any] = {"epoch_seconds": statistics.median(seconds),
                           "supernet_params": sum(p.numel() for p in pipe.supernet.parameters())}
    return row | (ranking_row(config, out, pipe) if not args.no_rank else {})


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_study_arguments(parser, list(VARIANTS),
                        "root of the runs (default runs/sharing, runs/sharing-smoke)")
    args = parser.parse_args()
    apply_smoke_and_out(args, "sharing")
    return args


def main() -> None:
    args = parse_args()
    cells = [(variant, seed) for seed in args.seeds for variant in args.variants]
    rows = run_cells("sharing", cells, args.out, lambda v, s, out: run_cell(v, s, out, args),
                     args.summary_only)
    table = variant_table(rows, f"Weight sharing vs entanglement on NB201, preset "
                                f"{args.preset}, seeds {args.seeds}", COLUMNS, VARIANTS)
    write_results(args, rows, table)


if __name__ == "__main__":
    main()
