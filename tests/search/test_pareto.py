"""Pareto fronts, hypervolume, and NSGA-II against random search on the NB201 truth."""
import statistics

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from nasengine.benchmark import NB201Table
from nasengine.search.pareto import TrueFront, hypervolume, pareto_front
from nasengine.search.report import TRADE_OFF
from nasengine.search.arch_search import ArchSearch
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.graph import effective_arch


def test_front_keeps_exactly_the_non_dominated_points():
    #            acc, cost: (90, 5) dominates (80, 6); (80, 2) and (95, 9) trade off
    points = [(90, 5), (80, 6), (80, 2), (95, 9), (90, 5)]
    assert sorted(pareto_front(points, TRADE_OFF).tolist()) == [0, 2, 3]


def test_hypervolume_is_the_dominated_area_of_the_unit_box():
    ideal, nadir = (100, 0), (0, 10)  # accuracy 100 -> 0, cost 0 -> 0 after scaling
    assert hypervolume([(100, 0)], TRADE_OFF, ideal, nadir) == pytest.approx(1.0)
    assert hypervolume([(50, 5)], TRADE_OFF, ideal, nadir) == pytest.approx(0.25)
    # scaled (0.5, 0.2) dominates 0.5 x 0.8; scaled (0.25, 0.8) adds the strip 0.25 x 0.2
    two = hypervolume([(50, 2), (75, 8)], TRADE_OFF, ideal, nadir)
    assert two == pytest.approx(0.5 * 0.8 + 0.25 * 0.2)
    assert hypervolume([(-1, 11)], TRADE_OFF, ideal, nadir) == 0.0  # outside the box


@pytest.mark.slow
def test_nsga2_finds_a_better_front_than_random_search(nb201_table_path):
    """Accuracy vs Pixel-2 latency (HELP), 150 trials, 7 seeds each: NSGA-II's median
    hypervolume (found front vs the true one) beats random search's, and a one-sided
    Mann-Whitney test over the seeds agrees (p < 0.05)."""
    space, table = NB201Space(), NB201Table.from_path(nb201_table_path)
    cost = "latency_ms_help_pixel2"
    true = TrueFront.of(np.c_[table.query_many(table.archs, "cifar10_test_acc"),
                              table.query_many(table.archs, cost)])
    assert true.ratio(true.points) == pytest.approx(1.0)

    def objective(arch):
        name = space.format(arch)
        return table.accuracy(name), table.query(name, cost)

    def ratio(optimizer: str, seed: int) -> float:
        result = ArchSearch(space, objective, optimizer, seed=seed, directions=TRADE_OFF,
                            canonical=effective_arch,
                            options={"population": 10} if optimizer == "nsga2" else None
                            ).run(150, progress=False)
        return true.ratio([t["values"] for t in result.trials])

    nsga2 = [ratio("nsga2", seed) for seed in range(7)]
    random = [ratio("random", seed) for seed in range(7)]
    assert statistics.median(nsga2) > statistics.median(random)
    assert mannwhitneyu(nsga2, random, alternative="greater").pvalue < 0.05
    assert max(nsga2) <= 1.0 + 1e-9  # no front beats the true one
