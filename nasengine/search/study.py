"""Discrete architecture search over a trained supernet: an optuna study, ask/tell.

The objective is any ``arch -> score`` (the supernet's accuracy with inherited weights,
or a benchmark table for testing an optimiser alone). Trials are stored in an optuna
storage (SQLite by default), written as they finish: an interrupted search resumes
where it stopped, and a storage that belongs to another search is refused by name.
Archs the supernet proves equivalent (``canonical``) are evaluated once; archs outside a
``constraint`` (e.g. a parameter budget) are recorded as pruned and not evaluated.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
from tqdm import tqdm

from ..errors import ConfigError, DataError
from ..space import Sample, SearchSpace
from .optimizers import create_optimizer

Objective = Callable[[Sample], float]
Constraint = Callable[[Sample], "str | None"]
"""arch -> None if allowed, else why not (e.g. "1.2M params > 1.0M")."""
MAX_REJECTED_IN_A_ROW = 500


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
    """One optimiser searching ``space`` for the highest ``objective``."""

    def __init__(self, space: SearchSpace, objective: Objective, optimizer: str = "evolution",
                 *, seed: int = 0, storage: str | Path | None = None,
                 canonical: Callable[[Sample], Mapping[str, Any]] | None = None,
                 options: dict[str, Any] | None = None,
                 identity: dict[str, Any] | None = None,
                 constraint: Constraint | None = None, sampler: Any = None) -> None:
        """``identity`` adds what the stored study must match (checkpoint, protocol,
        constraint); a mismatch is refused rather than mixed into the same trials.
        ``sampler`` is the run's trained sampler, for optimisers that draw from it."""
        self.space, self.objective, self.canonical = space, objective, canonical
        self.constraint = constraint
        self.identity = {"optimizer": optimizer, "seed": seed, "options": options or {},
                         "space": {k: [str(v) for v in d.values]
                                   for k, d in space.decisions.items()},
                         **(identity or {})}
        self.identity = json.loads(json.dumps(self.identity))  # as the storage returns it
        optuna.logging.set_verbosity(logging.WARNING)
        proposer = create_optimizer(optimizer, seed, options, sampler)
        self.study = _open_study(storage, f"{optimizer}-seed{seed}", proposer, self.identity)

    def run(self, budget: int, progress: bool = True) -> SearchResult:
        """Continue the study until it holds ``budget`` finished trials."""
        if budget < 1:
            raise ConfigError(f"search budget must be >= 1 trial, got {budget}")
        finished = self._finished()
        cache = {t.user_attrs["key"]: t.value for t in finished}
        done = len(finished)
        with tqdm(total=budget, initial=min(done, budget), desc="search", unit="arch",
                  disable=not progress) as bar:
            rejected = 0
            while done < budget:
                if self._step(cache):
                    done, rejected = done + 1, 0
                    bar.update(1)
                elif (rejected := rejected + 1) >= MAX_REJECTED_IN_A_ROW:
                    raise ConfigError(f"{rejected} proposals in a row broke the constraint; "
                                      "it excludes (nearly) every arch: relax it")
        return self.result()

    def _step(self, cache: dict[str, float]) -> bool:
        """One trial; False when the arch broke the constraint (pruned, not evaluated)."""
        trial = self.study.ask()
        arch = {label: trial.suggest_categorical(label, list(d.values))
                for label, d in self.space.decisions.items()}
        why_not = self.constraint(arch) if self.constraint else None
        if why_not:
            trial.set_user_attr("infeasible", why_not)
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return False
        key = json.dumps(dict(self.canonical(arch)) if self.canonical else arch, sort_keys=True)
        trial.set_user_attr("arch", self.space.format(arch))
        trial.set_user_attr("key", key)
        trial.set_user_attr("evaluated", key not in cache)
        if key not in cache:
            cache[key] = self._evaluate(trial, arch)
        self.study.tell(trial, cache[key])
        return True

    def _evaluate(self, trial: optuna.Trial, arch: Sample) -> float:
        """The objective's score; a failure is recorded on the trial before it propagates."""
        try:
            score = float(self.objective(arch))
        except BaseException:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        if not math.isfinite(score):
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise DataError(f"the objective returned {score} for {self.space.format(arch)}; "
                            "check the supernet checkpoint (NaN weights?)")
        return score

    def _finished(self) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))

    def result(self) -> SearchResult:
        trials = [{"number": t.number, "arch": t.user_attrs["arch"], "score": t.value,
                   "evaluated": t.user_attrs["evaluated"],
                   "seconds": (t.datetime_complete - t.datetime_start).total_seconds()}
                  for t in self._finished()]
        rejected = len(self.study.get_trials(deepcopy=False,
                                             states=(optuna.trial.TrialState.PRUNED,)))
        return SearchResult(trials, sum(t["evaluated"] for t in trials), rejected)


def _open_study(storage: str | Path | None, name: str, sampler: optuna.samplers.BaseSampler,
                identity: dict[str, Any]) -> optuna.Study:
    """Create or reopen the study ``name``; refuse one made by a different search."""
    url = None
    if storage is not None:
        url = str(storage) if "://" in str(storage) else f"sqlite:///{Path(storage).resolve()}"
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    try:
        study = optuna.create_study(storage=url, study_name=name, sampler=sampler,
                                    direction="maximize", load_if_exists=True)
    except Exception as exc:  # sqlalchemy/optuna errors on a file that is not a study
        raise DataError(f"cannot open the search storage {storage} ({type(exc).__name__}: "
                        f"{exc}); move the file away or choose another --out") from None
    stored = study.user_attrs.get("identity")
    if stored is None:
        study.set_user_attr("identity", identity)
    elif stored != identity:
        diff = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
        raise ConfigError(f"the study {name!r} in {storage} was made by another search "
                          f"(differs in: {', '.join(diff)}); use another --out, or delete "
                          "the storage to start over")
    return study
