"""Discrete architecture search over a trained supernet: an optuna study, ask/tell.

The objective is any ``arch -> score`` (the supernet's accuracy with inherited weights,
or a benchmark table for testing an optimiser alone), or several values for a
multi-objective optimiser. Trials are stored in an optuna storage (SQLite by default, any
SQLAlchemy URL), written as they finish: an interrupted search resumes where it stopped,
processes started on one study share it (:mod:`.storage`, :mod:`.resume`), and a storage
that belongs to another search is refused by name. Archs the supernet proves equivalent
(``canonical``) are evaluated once; archs outside a ``constraint`` (e.g. a parameter
budget) are recorded as pruned and not evaluated.
"""
from __future__ import annotations

import json
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from ..errors import ConfigError, DataError
from ..progress import progress_bar
from ..space import Sample, SearchSpace
from .optimizers import create_optimizer
from .resume import WorkerSampler
from .storage import (HEARTBEAT_S, display_url, fail_dead_trials, heartbeat, open_storage,
                      worker_name)

Objective = Callable[[Sample], "float | Sequence[float]"]
"""arch -> its score, or one value per direction of a multi-objective search."""
Constraint = Callable[[Sample], "str | None"]
"""arch -> None if allowed, else why not (e.g. "1.2M params > 1.0M")."""
MAX_REJECTED_IN_A_ROW = 500
POLL_S = 0.2
"""Seconds between looks at the study while waiting for other workers' trials."""


@dataclass
class SearchResult:
    """Every trial in order, and the incumbent (the best score so far)."""

    trials: list[dict[str, Any]]
    evaluations: int
    rejected: int = 0  # proposals that broke the constraint (not evaluated, not trials)
    best: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.best = max(self.trials, key=lambda t: t["score"]) if self.trials else {}

    def incumbents(self) -> list[dict[str, Any]]:
        """The best trial after each trial (what the search would return if stopped there)."""
        out, best = [], None
        for t in self.trials:
            best = t if best is None or t["score"] > best["score"] else best
            out.append(best)
        return out


class ArchSearch:
    """One optimiser searching ``space`` for the highest ``objective``.

    Any number of processes may run the same search on one storage: the trials are
    ordered by their number, each decides (arch, key) before looking at the ones
    before it, so the budget is filled exactly once and an arch is evaluated by the
    first trial that proposed it; later ones wait for its score.
    """

    def __init__(self, space: SearchSpace, objective: Objective, optimizer: str = "evolution",
                 *, seed: int = 0, storage: str | Path | None = None,
                 canonical: Callable[[Sample], Mapping[str, Any]] | None = None,
                 options: dict[str, Any] | None = None,
                 identity: dict[str, Any] | None = None,
                 constraint: Constraint | None = None, study_name: str | None = None,
                 directions: Sequence[str] = ("maximize",),
                 heartbeat: int = HEARTBEAT_S, sampler: Any = None) -> None:
        """``identity`` adds what the stored study must match (checkpoint, protocol,
        constraint); a mismatch is refused rather than mixed into the same trials.
        ``directions`` has one entry per value the objective returns (multi-objective
        optimisers such as ``nsga2`` take several). ``sampler`` is the run's trained
        sampler, for optimisers that draw from it (``controller``)."""
        self.space, self.objective, self.canonical = space, objective, canonical
        self.constraint, self.heartbeat = constraint, heartbeat
        self.identity = {"optimizer": optimizer, "seed": seed, "options": options or {},
                         "space": {k: [str(v) for v in d.values]
                                   for k, d in space.decisions.items()},
                         **(identity or {})}
        self.identity = json.loads(json.dumps(self.identity))  # as the storage returns it
        optuna.logging.set_verbosity(logging.WARNING)
        make = lambda s: create_optimizer(optimizer, s, options, sampler)  # noqa: E731
        _probe(make(seed), directions)  # before any I/O
        self.study = _open_study(storage, study_name or f"{optimizer}-seed{seed}",
                                 self.identity, list(directions), heartbeat)
        self.storage_url = display_url(storage) if storage is not None else "in memory"
        decisions = {k: list(d.values) for k, d in space.decisions.items()}
        self.study.sampler = WorkerSampler(make, seed, self.study, decisions)

    def location(self) -> dict[str, str]:
        """Where the trials are: the study's name and its storage URL (password hidden)."""
        return {"name": self.study.study_name, "storage": self.storage_url}

    def run(self, budget: int, progress: bool = True) -> SearchResult:
        """Continue the study until it holds ``budget`` finished trials (all workers')."""
        if budget < 1:
            raise ConfigError(f"search budget must be >= 1 trial, got {budget}")
        with progress_bar(total=budget, desc="search", unit="arch", enabled=progress) as bar:
            rejected = 0
            while True:
                fail_dead_trials(self.study, 3 * self.heartbeat)
                done, claimed = self._counts()
                bar.update(min(done, budget) - bar.n)
                if done >= budget:
                    break
                if done + claimed >= budget:  # other workers' trials fill the budget
                    time.sleep(POLL_S)
                    continue
                if self._step(budget) is not False:
                    rejected = 0
                elif (rejected := rejected + 1) >= MAX_REJECTED_IN_A_ROW:
                    raise ConfigError(f"{rejected} proposals in a row broke the constraint; "
                                      "it excludes (nearly) every arch: relax it")
        return self.result()

    def _counts(self) -> tuple[int, int]:
        """(finished trials, running trials that hold a place in the budget)."""
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                               TrialState.RUNNING))
        done = sum(t.state == TrialState.COMPLETE for t in trials)
        return done, sum(t.state == TrialState.RUNNING and "key" in t.user_attrs for t in trials)

    def _step(self, budget: int) -> bool | None:
        """One trial: True when scored, False when the arch broke the constraint (pruned,
        not evaluated), None when other workers filled the budget first (failed)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna: "heartbeat ... used with optimize"
            trial = self.study.ask()
        try:
            trial.set_user_attr("worker", worker_name())
            with heartbeat(self.study._storage, trial):
                return self._decide(trial, budget)
        except BaseException:
            if self.study._storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
                self.study.tell(trial, state=TrialState.FAIL)
            raise

    def _decide(self, trial: optuna.Trial, budget: int) -> bool | None:
        arch = {label: trial.suggest_categorical(label, list(d.values))
                for label, d in self.space.decisions.items()}
        why_not = self.constraint(arch) if self.constraint else None
        if why_not:
            trial.set_user_attr("infeasible", why_not)
            self.study.tell(trial, state=TrialState.PRUNED)
            return False
        key = json.dumps(dict(self.canonical(arch)) if self.canonical else arch, sort_keys=True)
        trial.set_user_attr("arch", self.space.format(arch))
        trial.set_user_attr("key", key)  # decided: later trials may now look at this one
        earlier = self._earlier(trial.number)
        if len(earlier) >= budget:
            trial.set_user_attr("surplus", "the budget was filled by other workers")
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        values = self._known(key, trial.number)
        trial.set_user_attr("evaluated", values is None)
        self.study.tell(trial, values if values is not None else self._evaluate(arch))
        return True

    def _earlier(self, number: int) -> list[FrozenTrial]:
        """The finished or decided trials before ``number``, once none is undecided."""
        while True:
            trials = [t for t in self.study.get_trials(deepcopy=False) if t.number < number
                      and t.state in (TrialState.COMPLETE, TrialState.RUNNING)]
            if all(t.state == TrialState.COMPLETE or "key" in t.user_attrs for t in trials):
                return trials
            time.sleep(POLL_S)
            fail_dead_trials(self.study, 3 * self.heartbeat)

    def _known(self, key: str, number: int) -> list[float] | None:
        """The values of ``key`` if a finished trial has them, after waiting for an
        earlier trial that evaluates it; None when this trial must evaluate it."""
        while True:
            same = [t for t in self.study.get_trials(deepcopy=False)
                    if t.user_attrs.get("key") == key and t.state in (
                        TrialState.COMPLETE, TrialState.RUNNING) and t.number != number]
            done = [t for t in same if t.state == TrialState.COMPLETE]
            if done:
                return list(done[0].values)
            if not any(t.number < number for t in same):
                return None
            time.sleep(POLL_S)
            fail_dead_trials(self.study, 3 * self.heartbeat)

    def _evaluate(self, arch: Sample) -> list[float]:
        """The objective's values; non-finite ones stop the search (the caller fails
        the trial)."""
        raw = self.objective(arch)
        values = [float(v) for v in (raw if isinstance(raw, (tuple, list)) else [raw])]
        if not all(math.isfinite(v) for v in values):
            raise DataError(f"the objective returned {raw} for {self.space.format(arch)}; "
                            "check the supernet checkpoint (NaN weights?)")
        return values

    def _finished(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    def result(self) -> SearchResult:
        trials = [{"number": t.number, "arch": t.user_attrs["arch"], "score": t.values[0],
                   **({"values": list(t.values)} if len(t.values) > 1 else {}),
                   "evaluated": t.user_attrs["evaluated"],
                   "seconds": (t.datetime_complete - t.datetime_start).total_seconds()}
                  for t in self._finished()]
        rejected = len(self.study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))
        return SearchResult(trials, sum(t["evaluated"] for t in trials), rejected)


def _probe(sampler: optuna.samplers.BaseSampler, directions: Sequence[str]) -> None:
    """One trial in memory: an optimiser that cannot serve ``directions`` refuses here,
    not with a trial left behind in the storage."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.create_study(sampler=sampler, directions=list(directions)).ask()


def _open_study(storage: str | Path | None, name: str, identity: dict[str, Any],
                directions: list[str], heartbeat: int) -> optuna.Study:
    """Create or reopen the study ``name``; refuse one made by a different search."""
    backend = open_storage(storage, heartbeat) if storage is not None else None
    try:
        study = optuna.create_study(storage=backend, study_name=name, directions=directions,
                                    load_if_exists=True)
    except ValueError as exc:  # reopened with other directions
        raise ConfigError(f"the study {name!r} in {display_url(storage)} cannot be reopened "
                          f"({exc}); use another --study or --out") from None
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    elif stored != identity:
        diff = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
        raise ConfigError(f"the study {name!r} in {display_url(storage)} was made by another "
                          f"search (differs in: {', '.join(diff)}); use another --out, or delete "
                          "the storage to start over")
    return study
