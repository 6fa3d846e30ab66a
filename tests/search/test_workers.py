"""Search workers as separate processes: killed mid-trial, and several on one study
(SQLite and a real PostgreSQL server). Each worker searches the NB201 ground truth."""
from __future__ import annotations

import collections
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from nasengine.benchmark import NB201Table
from nasengine.search.storage import open_storage
from nasengine.search.arch_search import ArchSearch
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.graph import effective_arch

def start(storage: str, study: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nasengine.search.truth_worker", storage,
                             study, *args], stderr=subprocess.PIPE, text=True)


OPENED: dict[str, optuna.storages.RDBStorage] = {}


def trials(storage: str, study: str) -> list[optuna.trial.FrozenTrial]:
    if storage not in OPENED:  # opening a storage is slow: once per test
        OPENED[storage] = open_storage(storage)
    return optuna.load_study(study_name=study, storage=OPENED[storage]).get_trials()


def kill_mid_trial(worker: subprocess.Popen, storage: str, study: str, after: int) -> set[int]:
    """Kill ``worker`` while it evaluates, once ``after`` trials are finished; return the
    finished trials' numbers just before the kill."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            seen = trials(storage, study)
        except KeyError:  # the study does not exist yet
            continue
        done = {t.number for t in seen if t.state == TrialState.COMPLETE}
        if len(done) >= after and any(
                t.state == TrialState.RUNNING and "key" in t.user_attrs
                and t.user_attrs.get("worker", "").endswith(f":{worker.pid}") for t in seen):
            worker.kill()
            worker.communicate()  # waits and closes its stderr pipe
            return done
        assert worker.poll() is None, worker.stderr.read()
    pytest.fail(f"worker {worker.pid} never reached {after} finished trials mid-evaluation")


def finish_and_check(worker: subprocess.Popen) -> None:
    """Wait for ``worker`` to succeed, reading its stderr as it goes (a full pipe would
    block it) and closing the pipe."""
    _, stderr = worker.communicate(timeout=300)
    assert worker.returncode == 0, stderr


def check_study(stored: list[optuna.trial.FrozenTrial], budget: int) -> None:
    """Exactly the budget finished, nothing left running, no arch evaluated twice."""
    states = collections.Counter(t.state for t in stored)
    assert states[TrialState.RUNNING] == 0 and states[TrialState.COMPLETE] == budget
    evaluated = [t.user_attrs["key"] for t in stored
                 if t.state == TrialState.COMPLETE and t.user_attrs["evaluated"]]
    assert len(evaluated) == len(set(evaluated))


@pytest.mark.slow
def test_a_search_killed_mid_trial_resumes_as_if_never_killed(tmp_path, nb201_table_path):
    """Killed three times while evaluating, then run to the end: no trial is left
    RUNNING, none is evaluated twice, and the archs are those of an uninterrupted search."""
    db, budget = str(tmp_path / "search.db"), 16
    args = ["--optimizer", "tpe", "--budget", str(budget), "--sleep", "0.15"]
    for kills in range(1, 4):
        kill_mid_trial(start(db, "s", *args), db, "s", after=3 * kills)
    finish_and_check(start(db, "s", *args))
    stored = trials(db, "s")
    check_study(stored, budget)
    assert 1 <= sum(t.state == TrialState.FAIL for t in stored) <= 3

    space, table = NB201Space(), NB201Table.from_path()
    reference = ArchSearch(space, lambda a: table.accuracy(space.format(a)), "tpe", seed=0,
                           canonical=effective_arch).run(budget, progress=False)
    assert [t.user_attrs["arch"] for t in stored if t.state == TrialState.COMPLETE] == \
        [t["arch"] for t in reference.trials]


def four_workers_one_killed(storage: str, study: str) -> None:
    """4 workers on one study, budget 40; one is killed mid-trial after 8 trials."""
    args = ["--optimizer", "random", "--budget", "40", "--sleep", "0.1"]
    workers = [start(storage, study, *args) for _ in range(4)]
    finished_before = kill_mid_trial(workers[0], storage, study, after=8)
    for worker in workers[1:]:
        finish_and_check(worker)
    stored = trials(storage, study)
    check_study(stored, 40)
    assert finished_before <= {t.number for t in stored if t.state == TrialState.COMPLETE}
    assert len({t.user_attrs["worker"] for t in stored}) == 4  # all four took part


@pytest.mark.slow
def test_four_workers_on_sqlite_share_the_budget_and_evaluate_each_arch_once(
        tmp_path, nb201_table_path):
    four_workers_one_killed(str(tmp_path / "search.db"), "shared")


@pytest.mark.slow
def test_four_workers_on_postgresql_share_the_budget_and_evaluate_each_arch_once(
        postgres_url, nb201_table_path):
    four_workers_one_killed(postgres_url, "shared")
