"""Where a search's trials live: an optuna RDB storage shared by any number of workers.

Any SQLAlchemy URL works (SQLite by default, PostgreSQL for workers on several
machines). Each running trial carries optuna's heartbeat and its worker's
``host:pid``, so a trial whose worker died is marked failed: at once when the worker
ran on this host, after the heartbeat's grace period otherwise.
"""
from __future__ import annotations

import os
import random
import socket
import sqlite3
import threading
import time
import warnings
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..errors import DataError

HEARTBEAT_S = 10
"""Seconds between heartbeats of a running trial; a trial silent for 3x that is failed."""
OPEN_ATTEMPTS = 8


def worker_name() -> str:
    """This process as the trials it runs name it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def storage_url(storage: str | Path) -> str:
    """A SQLAlchemy URL for ``storage`` (a URL as it is, a path as a SQLite file)."""
    text = str(storage)
    if "://" in text:
        return text
    path = Path(text).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def display_url(storage: str | Path) -> str:
    """``storage``'s URL as reports and messages show it: without a password."""
    from sqlalchemy.engine import make_url

    return make_url(storage_url(storage)).render_as_string(hide_password=True)


def open_storage(storage: str | Path, heartbeat: int = HEARTBEAT_S) -> optuna.storages.RDBStorage:
    """The RDB storage at ``storage``, its tables created once even when workers race.

    Two workers starting on a fresh database both try to create the tables (and the
    version rows); the loser's error is transient, so the opening is retried.
    """
    url = storage_url(storage)
    engine = {"creator": _sqlite_connector(url)} if url.startswith("sqlite:///") else {}
    for attempt in range(OPEN_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine,
                                                  heartbeat_interval=heartbeat,
                                                  grace_period=3 * heartbeat)
        except ImportError as exc:
            raise DataError(f"no database driver for {url.split('://')[0]} ({exc}); install "
                            "it, e.g. pip install 'nasengine[postgres]'") from None
        except Exception as exc:  # sqlalchemy errors: a race (retried) or not a database
            if attempt == OPEN_ATTEMPTS - 1:
                raise DataError(f"cannot open the search storage {storage} "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0]}); move the "
                                "file away, fix the URL or choose another --out") from None
            time.sleep(random.uniform(0.05, 0.2))
    raise AssertionError("unreachable")


def _sqlite_connector(url: str) -> Callable[[], sqlite3.Connection]:
    """Connections in write-ahead-log mode: readers never block the writer, and a commit
    is not an fsync (a killed process loses nothing; only a power cut can lose the last
    trials). 2-3x faster trials; the file must not sit on a network file system."""
    path = url[len("sqlite:///"):]

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, timeout=120, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return connect


@contextmanager
def heartbeat(storage: optuna.storages.BaseStorage, trial: optuna.Trial) -> Iterator[None]:
    """Record ``trial``'s heartbeat until the block ends (a no-op without heartbeat support)."""
    if not optuna.storages._heartbeat.is_heartbeat_enabled(storage):
        yield
        return
    interval = storage.get_heartbeat_interval()
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(trial._trial_id)
            if stop.wait(interval):
                return

    storage.record_heartbeat(trial._trial_id)
    thread = threading.Thread(target=beat, daemon=True, name="nasengine-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def fail_dead_trials(study: optuna.Study, grace: float) -> list[int]:
    """Mark failed every running trial whose worker is gone; return their numbers.

    Gone: its heartbeat is older than the grace period (optuna's rule), its worker ran
    on this host and that process no longer exists, or it never named a worker within
    the grace period (killed between its creation and its first write).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    now, failed = datetime.now(), []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _dead(trial, now, grace):
            try:
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                failed.append(trial.number)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # finished or failed by someone else meanwhile
    return failed


def _dead(trial: FrozenTrial, now: datetime, grace: float) -> bool:
    worker = trial.user_attrs.get("worker")
    if worker is None:
        start = trial.datetime_start or now
        return now - start > timedelta(seconds=grace)
    host, _, pid = worker.rpartition(":")
    return host == socket.gethostname() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True
