"""The search storage: opened by racing workers, dead workers' trials failed, no
password in what reports show."""
import os
import socket
import subprocess
import sys
import threading

import optuna
from optuna.trial import TrialState

from nasengine.search.storage import display_url, fail_dead_trials, open_storage


def test_workers_opening_a_fresh_database_at_once_all_succeed(tmp_path):
    """The race that gave "table already exists": every opener gets the one study."""
    db, errors, studies = tmp_path / "search.db", [], []

    def open_one() -> None:
        try:
            studies.append(optuna.create_study(storage=open_storage(db), study_name="s",
                                               load_if_exists=True)._study_id)
        except Exception as exc:  # noqa: BLE001  (collected, asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(studies)) == 1 and len(studies) == 6


def test_trials_of_dead_workers_are_failed_and_live_ones_kept(tmp_path):
    study = optuna.create_study(storage=open_storage(tmp_path / "s.db"))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    host = socket.gethostname()
    workers = {"dead here": f"{host}:{gone}", "alive here": f"{host}:{os.getpid()}",
               "elsewhere": "another-host:1"}
    numbers = {}
    for name, worker in workers.items():
        trial = study.ask()
        trial.set_user_attr("worker", worker)
        numbers[name] = trial.number
    unnamed = study.ask().number  # killed before it named its worker
    assert fail_dead_trials(study, grace=3600) == [numbers["dead here"]]
    assert fail_dead_trials(study, grace=0) == [unnamed]  # older than the grace period
    states = {t.number: t.state for t in study.get_trials()}
    assert states[numbers["alive here"]] == states[numbers["elsewhere"]] == TrialState.RUNNING


def test_reports_show_storage_urls_without_password(tmp_path):
    assert display_url("postgresql://nas:secret@db.lab/search") == \
        "postgresql://nas:***@db.lab/search"
    assert display_url(tmp_path / "x.db") == f"sqlite:///{(tmp_path / 'x.db').resolve()}"
