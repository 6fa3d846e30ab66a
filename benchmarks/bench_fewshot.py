"""Do few-shot supernets rank NB201 better than one supernet at the same training budget?

Trains, per seed, three supernets for the same number of epochs (hence the same number of
SGD steps) at one preset and ranks each against NB201 beside the #params proxy:

* ``one-shot``: one supernet, uniform single-path sampling;
* ``exhaustive``: Few-Shot NAS (Zhao et al. 2021): after the warm-up, one decision
  (edge ``1<-0`` by default, their edge 0) splits into one sub-supernet per op (5 leaves);
* ``gm``: GM-NAS (Hu, Wang et al. 2022): after the warm-up and then every ``split_every``
  epochs, every leaf splits in two on the decision whose ops' gradients disagree most
  (2 levels: 4 leaves).

Sampling stays uniform over the whole space, so each step trains the one leaf that owns
the sampled arch. The gradient-matching cost (forward/backward passes outside training)
is reported as "split s". Resumable and shareable: each (variant, seed) cell is claimed
by one worker (``benchmarks/_queue.py``), a half-trained cell resumes from its checkpoint,
and the table is built from every finished cell on disk. Writes ``<out>/results.md`` and
``<out>/results.json``; each cell keeps its ``fewshot_tree.{txt,json,png}``.

Reproduce (two 1-thread workers share the study, then one call prints the table):
    for w in 1 2; do OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_fewshot.py \\
        --threads 1 --seeds 0 1 2 & done; wait
    .venv/bin/python benchmarks/bench_fewshot.py --seeds 0 1 2 --summary-only
Smoke (< 2 min, no meaning beyond "it runs"):
    .venv/bin/python benchmarks/bench_fewshot.py --smoke
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path
from typing import Any

import scipy.stats

from _queue import cell_dir, run_cells
from _table import (RANK_COLUMNS, add_study_arguments, apply_smoke_and_out, ranking_row,
                    run_overrides, variant_table, write_results)
from nasengine import api
from nasengine.config import RunConfig, load_config
from nasengine.train import read_metrics
from search_spaces.nb201 import NB201Space

VARIANTS = ("one-shot", "exhaustive", "gm")
COLUMNS = {  # results.md column -> row key
    **RANK_COLUMNS, "#params rho": "params_spearman_rho",
    "#params P@top-5%": "params_precision_at_5", "leaves": "leaves",
    "split s": "split_seconds", "s / epoch": "epoch_seconds",
    "within-leaf tau": "within_leaf_tau",
    "one-shot within-leaf tau (same archs)": "one_shot_within_leaf_tau",
}


def variant_overrides(variant: str, args: argparse.Namespace) -> list[str]:
    """The ``[fewshot]`` settings of one variant; one-shot leaves splitting off."""
    if variant == "one-shot":
        return []
    schedule = [f"fewshot.warmup_epochs={args.warmup}", f"fewshot.split_every={args.split_every}"]
    if variant == "exhaustive":
        return schedule + ["fewshot.strategy=exhaustive", "fewshot.splits=1",
                           f"fewshot.decisions={json.dumps([args.exhaustive_decision])}"]
    return schedule + ["fewshot.strategy=gm", f"fewshot.splits={args.gm_splits}",
                       *(f"fewshot.options.{item}" for item in args.gm_option)]


def run_cell(config: RunConfig, out: Path, rank: bool) -> dict[str, Any]:
    """Train (resumably), rank (cached), and summarise one cell."""
    pipe = api.train(config, out, resume=True, progress=False)
    seconds = [r["seconds"] for r in read_metrics(out)]
    row: dict[str, Any] = {"epoch_seconds": statistics.mean(seconds), **tree_row(out)}
    return row | (ranking_row(config, out, pipe) if rank else {})


def tree_row(out: Path) -> dict[str, Any]:
    """Leaves and gradient-matching seconds from the cell's tree (one leaf without one)."""
    path = out / "fewshot_tree.json"
    if not path.exists():
        return {"leaves": 1, "split_seconds": 0.0}
    tree = json.loads(path.read_text())
    seconds = sum(n["split"].get("seconds", 0.0) for n in tree["nodes"] if n["split"])
    return {"leaves": len(tree["leaves"]), "split_seconds": seconds}


# -- why a split helps or hurts: ranking inside each leaf vs across leaves ---------------
def read_scores(out: Path) -> dict[str, tuple[float, float]]:
    """arch string -> (supernet accuracy, NB201 accuracy), from the cell's ``scores.csv``."""
    with (out / "scores.csv").open() as f:
        return {r["arch"]: (float(r["supernet_acc"]), float(r["true_acc"]))
                for r in csv.DictReader(f)}


def leaf_groups(out: Path, archs: list[str]) -> list[list[str]]:
    """The ranked archs grouped by the leaf that owns them (one group without a tree)."""
    path = out / "fewshot_tree.json"
    if not path.exists():
        return [archs]
    tree, space = json.loads(path.read_text()), NB201Space()
    nodes = {n["id"]: n for n in tree["nodes"]}
    groups = []
    for leaf in tree["leaves"]:
        allowed = nodes[leaf]["restriction"]
        groups.append([a for a in archs if all(space.parse(a)[label] in values
                                               for label, values in allowed.items())])
    return groups


def within_leaf_tau(scores: dict[str, tuple[float, float]], groups: list[list[str]]) -> float:
    """Kendall tau inside each leaf, averaged with the leaves' arch counts as weights."""
    taus = [(len(g), scipy.stats.kendalltau([scores[a][0] for a in g],
                                            [scores[a][1] for a in g]).statistic)
            for g in groups if len(g) > 2]
    return sum(n * t for n, t in taus) / sum(n for n, _ in taus)


def add_leaf_analysis(rows: list[dict[str, Any]], root: Path) -> None:
    """Per few-shot row: its within-leaf tau, and one-shot's on the same partition."""
    for row in rows:
        out, base = cell_dir(root, row["variant"], row["seed"]), cell_dir(root, "one-shot", row["seed"])
        if row["variant"] == "one-shot" or not (base / "scores.csv").exists():
            continue
        mine, theirs = read_scores(out), read_scores(base)
        groups = leaf_groups(out, sorted(set(mine) & set(theirs)))
        row["within_leaf_tau"] = within_leaf_tau(mine, groups)
        row["one_shot_within_leaf_tau"] = within_leaf_tau(theirs, groups)


def markdown(rows: list[dict[str, Any]], title: str) -> str:
    return variant_table(rows, title, COLUMNS, VARIANTS)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_study_arguments(parser, list(VARIANTS),
                        "root of the runs (default runs/fewshot, runs/fewshot-smoke); "
                        "finished cells are reused, so use a new one for new settings")
    parser.add_argument("--warmup", type=int, default=None,
                        help="one-shot epochs before the first split [epochs // 3]")
    parser.add_argument("--split-every", type=int, default=None,
                        help="epochs between GM split levels [max(1, epochs // 6)]")
    parser.add_argument("--gm-splits", type=int, default=2, help="GM split levels [2]")
    parser.add_argument("--gm-option", nargs="*", default=[], metavar="KEY=VALUE",
                        help="GM options, e.g. partition=stoer_wagner batches=8")
    parser.add_argument("--exhaustive-decision", default="1<-0")
    args = parser.parse_args()
    apply_smoke_and_out(args, "fewshot")
    if args.smoke:
        args.gm_option = ["batches=1", *args.gm_option]
    epochs = load_config(args.preset, args.set).train.epochs
    args.warmup = args.warmup or max(1, epochs // 3)
    args.split_every = args.split_every or max(1, epochs // 6)
    return args


def main() -> None:
    args = parse_args()
    extra = run_overrides(args)

    def run(variant: str, seed: int, out: Path) -> dict[str, Any]:
        config = load_config(args.preset, [f"seed={seed}", *extra,
                                           *variant_overrides(variant, args)])
        return run_cell(config, out, not args.no_rank)

    cells = [(variant, seed) for seed in args.seeds for variant in args.variants]
    rows = run_cells("fewshot", cells, args.out, run, args.summary_only)
    if not args.no_rank:
        add_leaf_analysis(rows, args.out)
    table = markdown(rows, f"Few-shot vs one-shot, preset {args.preset}, seeds {args.seeds}, "
                           f"warm-up {args.warmup}, GM every {args.split_every} x {args.gm_splits}")
    write_results(args, rows, table)


if __name__ == "__main__":
    main()
