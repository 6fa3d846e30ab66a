"""Which search optimiser finds the best NB201 arch with a trained supernet, per budget?

Three objectives, each searched by every optimiser with the same budget of trials:

* ``supernet``: the accuracy a trained supernet gives an arch (inherited weights, the
  run's own BN protocol) - what a one-shot search optimises. One search per trained run
  (``--runs``), the run's index as the search seed; trials are stored in each run's
  ``search.db`` (optuna), so an interrupted benchmark resumes.
* ``#params``: NB201's parameter count - the trivial predictor every supernet claim is
  compared with.
* ``oracle``: NB201's true accuracy - what the optimiser alone can do, free of
  ranking errors (``--oracle-seeds`` searches each).

Reported: the regret of the arch each search returns (best NB201 CIFAR-10 test accuracy
minus the true accuracy of the returned arch), its true accuracy, distinct supernet
evaluations and seconds per search (the trials' own durations, so a resumed search
counts its first run); the curves (incumbent's true accuracy vs trials,
supernet objective) go to ``benchmarks/figures/search_curves.png``.

Reproduce (after training three cpu-proxy supernets, e.g.
``nasengine train --config cpu-proxy --threads 2 --set train.data_parallel=2 --seed S
--out runs/dp2/seedS`` for S in 0 1 2):
    python benchmarks/bench_search.py --runs runs/dp2/seed0 runs/dp2/seed1 runs/dp2/seed2 \
        --set train.data_parallel=2 --threads 2
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from nasengine import api
from nasengine.benchmark import NB201Table
from nasengine.config import load_config
from nasengine.plots import line_plot
from nasengine.search.arch_search import ArchSearch, SearchResult
from nasengine.families import get_family

OPTIMIZERS = ["random", "evolution", "tpe"]


def table_search(objective_name: str, optimizer: str, budget: int, seeds: list[int],
                 table: NB201Table) -> list[dict]:
    """Searches whose objective is a column of the NB201 table (no supernet)."""
    space = get_family("nb201").space()
    column = {"oracle": table.accuracy, "#params": table.params}[objective_name]
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        result = ArchSearch(space, lambda a: column(space.format(a)), optimizer,
                            seed=seed).run(budget, progress=False)
        rows.append({"arch": result.best["arch"], "evaluations": result.evaluations,
                     "seconds": time.perf_counter() - start,
                     "incumbents": [t["arch"] for t in result.incumbents()]})
    return rows


def supernet_search(args: argparse.Namespace, optimizer: str) -> list[dict]:
    rows = []
    for seed, run in enumerate(args.runs):
        trained_seed = json.loads((Path(run) / "config.json").read_text())["seed"]
        config = load_config(args.config, args.overrides + [f"seed={trained_seed}"] + (
            [f"threads={args.threads}"] if args.threads else []))
        report = api.search(config, run, optimizer, args.budget, seed=seed, progress=False)
        rows.append({"arch": report["best"]["arch"], "evaluations": report["evaluations"],
                     "seconds": report["seconds"],
                     "incumbents": [t["arch"] for t in SearchResult(
                         report["trials_log"], report["evaluations"]).incumbents()]})
        print(f"  {optimizer} on {run}: {report['best']['arch']} "
              f"(true {report['best']['true_acc']:.2f}%)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", default=[], help="trained supernet run folders")
    parser.add_argument("--config", default="cpu-proxy")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--oracle-seeds", type=int, default=10)
    parser.add_argument("--optimizers", nargs="+", default=OPTIMIZERS)
    parser.add_argument("--figure", default="search_curves.png",
                        help="file name in benchmarks/figures [search_curves.png]")
    args = parser.parse_args()
    table = NB201Table.from_path(None)
    truth = table.accuracy
    optimum = table.best_accuracy()
    results: dict[tuple[str, str], list[dict]] = {}
    for optimizer in args.optimizers:
        for objective in ("oracle", "#params"):
            results[(objective, optimizer)] = table_search(
                objective, optimizer, args.budget, list(range(args.oracle_seeds)), table)
        if args.runs:
            results[("supernet", optimizer)] = supernet_search(args, optimizer)
    print(f"\n# cmd: python benchmarks/bench_search.py {' '.join(__import__('sys').argv[1:])}")
    print(f"# budget {args.budget} trials; regret vs the best NB201 arch ({optimum:.2f}%)\n")
    print("| objective | optimizer | searches | regret (points) | true acc of pick (%) | "
          "distinct evaluations | s / search |\n|---|---|---|---|---|---|---|")
    for (objective, optimizer), rows in sorted(results.items()):
        regret = [optimum - truth(r["arch"]) for r in rows]
        print(f"| {objective} | {optimizer} | {len(rows)} | {_ms(regret)} | "
              f"{_ms([truth(r['arch']) for r in rows])} | "
              f"{statistics.mean(r['evaluations'] for r in rows):.0f} | "
              f"{statistics.mean(r['seconds'] for r in rows):.1f} |")
    curves = {f"{objective}: {optimizer}": _curve(rows, truth)
              for (objective, optimizer), rows in results.items() if objective != "#params"}
    path = line_plot(np.arange(1, args.budget + 1), curves,
                     Path(__file__).parent / "figures" / args.figure, xlabel="trials",
                     ylabel="true accuracy of the incumbent (%)",
                     title="NB201 search (mean ± std over searches)",
                     reference={"best NB201 arch": optimum})
    print(f"\ncurves: {path}")


def _curve(rows: list[dict], truth) -> tuple[np.ndarray, np.ndarray]:
    acc = np.array([[truth(a) for a in r["incumbents"]] for r in rows])
    return acc.mean(0), acc.std(0)


def _ms(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


if __name__ == "__main__":
    main()
