"""The search loop: equivalent archs evaluated once, durable trials, clear refusals."""
import math

import pytest

from nasengine.errors import ConfigError, DataError
from nasengine.search.arch_search import ArchSearch
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.graph import effective_arch

SPACE = NB201Space()


class CountingObjective:
    def __init__(self, fail_after: int | None = None) -> None:
        self.calls, self.fail_after = 0, fail_after

    def __call__(self, arch) -> float:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            return math.nan
        return float(sum(op == "nor_conv_3x3" for op in effective_arch(arch).values()))


def test_equivalent_archs_are_evaluated_once():
    objective = CountingObjective()
    result = ArchSearch(SPACE, objective, "random", seed=0,
                        canonical=effective_arch).run(300, progress=False)
    distinct = {tuple(sorted(effective_arch(SPACE.parse(t["arch"])).items()))
                for t in result.trials}
    assert objective.calls == result.evaluations == len(distinct) < 300


def test_incumbent_is_the_best_so_far():
    result = ArchSearch(SPACE, CountingObjective(), "random", seed=1).run(50, progress=False)
    scores = [t["score"] for t in result.incumbents()]
    assert scores == sorted(scores) and scores[-1] == result.best["score"]


def test_a_resumed_search_does_not_re_evaluate(tmp_path):
    db, objective = tmp_path / "search.db", CountingObjective()
    ArchSearch(SPACE, objective, "evolution", seed=0, storage=db).run(30, progress=False)
    calls = objective.calls
    again = ArchSearch(SPACE, objective, "evolution", seed=0, storage=db).run(30, progress=False)
    assert objective.calls == calls and len(again.trials) == 30


def test_storage_of_another_search_is_refused_by_name(tmp_path):
    db = tmp_path / "search.db"
    ArchSearch(SPACE, CountingObjective(), "evolution", seed=0, storage=db,
               identity={"checkpoint": "a"}).run(5, progress=False)
    with pytest.raises(ConfigError, match="differs in: checkpoint"):
        ArchSearch(SPACE, CountingObjective(), "evolution", seed=0, storage=db,
                   identity={"checkpoint": "b"})


def test_corrupt_storage_is_a_clear_error(tmp_path):
    db = tmp_path / "search.db"
    db.write_bytes(b"not a database" * 100)
    with pytest.raises(DataError, match="move the file away"):
        ArchSearch(SPACE, CountingObjective(), "random", seed=0, storage=db)


def test_nan_score_stops_the_search_and_keeps_finished_trials(tmp_path):
    db = tmp_path / "search.db"
    with pytest.raises(DataError, match="NaN weights"):
        ArchSearch(SPACE, CountingObjective(fail_after=4), "random", seed=0,
                   storage=db).run(20, progress=False)
    kept = ArchSearch(SPACE, CountingObjective(), "random", seed=0, storage=db).result()
    assert len(kept.trials) == 4


def test_budget_must_be_positive():
    with pytest.raises(ConfigError, match="budget"):
        ArchSearch(SPACE, CountingObjective(), "random").run(0)


def few_convs(arch):
    """A constraint: at most two 3x3 convs."""
    n = sum(op == "nor_conv_3x3" for op in arch.values())
    return None if n <= 2 else f"{n} 3x3 convs > 2"


def test_archs_outside_the_constraint_are_rejected_not_evaluated():
    objective = CountingObjective()
    result = ArchSearch(SPACE, objective, "evolution", seed=0,
                        constraint=few_convs).run(60, progress=False)
    assert len(result.trials) == 60 and result.rejected > 0
    assert all(few_convs(SPACE.parse(t["arch"])) is None for t in result.trials)
    assert result.best["score"] == 2.0  # the constrained optimum, found


def test_a_constraint_that_excludes_everything_is_a_clear_error():
    with pytest.raises(ConfigError, match="relax it"):
        ArchSearch(SPACE, CountingObjective(), "random", seed=0,
                   constraint=lambda arch: "never").run(5, progress=False)


def test_report_without_ground_truth_gives_the_pick_and_no_regret(tmp_path):
    """Spaces without a benchmark table (the macro space) still get their pick reported."""
    from nasengine.search.report import search_report

    search = ArchSearch(SPACE, CountingObjective(), "random", seed=0)
    report = search_report(search.run(10, progress=False), tmp_path, search.identity)
    assert report["best"]["arch"] and "regret" not in report["best"]
    assert (tmp_path / "search.json").exists() and not (tmp_path / "search.png").exists()
