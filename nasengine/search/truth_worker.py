"""One search worker over the NB201 ground truth (no supernet), the cheap objective for
trying several workers on one study: the tests that kill workers and the throughput
benchmark start it as subprocesses, any number at once.

    python -m nasengine.search.truth_worker sqlite:///x.db demo --budget 40 --sleep 0.5

``--sleep`` stands in for a supernet's evaluation time (§7 of RESULTS: 0.55 s per arch).
"""
from __future__ import annotations

import argparse
import time

from nasengine.benchmark import NB201Table
from nasengine.search.arch_search import ArchSearch
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.graph import effective_arch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("storage")
    parser.add_argument("study")
    parser.add_argument("--optimizer", default="evolution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds per evaluation")
    parser.add_argument("--heartbeat", type=int, default=1)
    args = parser.parse_args()
    space, table = NB201Space(), NB201Table.from_path()

    def true_accuracy(arch) -> float:
        time.sleep(args.sleep)  # the supernet's evaluation time, so kills land mid-trial
        return table.accuracy(space.format(arch))

    options = {"population": 10, "tournament": 3} if args.optimizer == "evolution" else None
    ArchSearch(space, true_accuracy, args.optimizer, seed=args.seed, storage=args.storage,
               study_name=args.study, canonical=effective_arch, options=options,
               heartbeat=args.heartbeat).run(args.budget, progress=False)


if __name__ == "__main__":
    main()
