"""Hardware-aware search on the NB201 ground truth: does NSGA-II find a better accuracy-vs-
cost front than random search with the same number of trials?

Objectives: NB201 CIFAR-10 test accuracy (up) and one cost column of the table (down).
Each search gets ``--budget`` trials (equivalent archs deduplicated); its front's
hypervolume is divided by the true Pareto front's (box from the space's best accuracy
and lowest cost to the true front's worst accuracy and highest cost; see
``nasengine.search.pareto``). Reported: median and range over ``--seeds`` seeds, and a
one-sided Mann-Whitney U test (NSGA-II > random).

    python benchmarks/bench_pareto.py --budget 150 --seeds 7
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.stats import mannwhitneyu

from nasengine.benchmark import NB201Table
from nasengine.search.pareto import TrueFront, pareto_front
from nasengine.search.report import TRADE_OFF
from nasengine.search.arch_search import ArchSearch
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.graph import effective_arch

COSTS = ["latency_ms_help_pixel2", "latency_ms_hwnasbench_pixel3", "latency_ms_help_titan_rtx_bs1",
         "params_M_cifar10", "flops_M_cifar10"]


def ratios(table: NB201Table, cost: str, optimizer: str, budget: int, seeds: int,
           population: int) -> list[float]:
    space = NB201Space()
    true = TrueFront.of(np.c_[table.query_many(table.archs, "cifar10_test_acc"),
                              table.query_many(table.archs, cost)])

    def objective(arch):
        name = space.format(arch)
        return table.accuracy(name), table.query(name, cost)

    out = []
    for seed in range(seeds):
        result = ArchSearch(space, objective, optimizer, seed=seed, directions=TRADE_OFF,
                            canonical=effective_arch,
                            options={"population": population} if optimizer == "nsga2"
                            else None).run(budget, progress=False)
        out.append(true.ratio([t["values"] for t in result.trials]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=7)
    parser.add_argument("--population", type=int, default=10, help="NSGA-II population")
    parser.add_argument("--costs", nargs="+", default=COSTS)
    args = parser.parse_args()
    table = NB201Table.from_path()
    print(f"{args.budget} trials, {args.seeds} seeds, NSGA-II population {args.population}; "
          "hypervolume as a fraction of the true front's\n")
    print("| cost | true front (archs) | random: median (min-max) | NSGA-II: median (min-max) "
          "| Mann-Whitney p (NSGA-II > random) | s |")
    print("|---|---|---|---|---|---|")
    for cost in args.costs:
        start = time.perf_counter()
        got = {o: ratios(table, cost, o, args.budget, args.seeds, args.population)
               for o in ("random", "nsga2")}
        points = np.c_[table.query_many(table.archs, "cifar10_test_acc"),
                       table.query_many(table.archs, cost)]
        cells = [f"{statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})" for v in got.values()]
        p = mannwhitneyu(got["nsga2"], got["random"], alternative="greater").pvalue
        print(f"| {cost} | {len(pareto_front(points, TRADE_OFF))} | {cells[0]} | {cells[1]} | "
              f"{p:.3f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
