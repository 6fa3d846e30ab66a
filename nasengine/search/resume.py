"""Make a resumed search propose what an uninterrupted one would, and workers differ.

An optuna sampler's proposals depend on the study's history and on its RNG. A
resumed search sees the same history (a killed or interrupted trial is failed, and
failed trials are skipped by every bundled optimiser), but a new process starts the
sampler's RNG afresh. So the stored trials are replayed through the sampler first,
in an in-memory study: its RNG ends where the interrupted process left it, and every
replayed proposal is checked against the stored one.

Several workers on one study must not draw the same stream (a shared seed would make
them propose the same archs). A worker whose first trial is not the one its replay
expects, because other workers' trials came in between, draws from a stream seeded by
(seed, that trial's index) instead.
"""
from __future__ import annotations

import random
import warnings
from typing import Any, Callable, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from .optimizers import trial_index

SamplerFactory = Callable[[int], BaseSampler]
"""seed -> a fresh sampler of the search's optimiser and options."""


class WorkerSampler(BaseSampler):
    """The optimiser's sampler, replayed to the stored study and salted when not alone."""

    def __init__(self, make: SamplerFactory, seed: int, study: Study,
                 decisions: dict[str, Sequence[Any]]) -> None:
        self._make, self._seed = make, seed
        self._inner = make(seed)
        self._expected: int | None = replay(self._inner, study, decisions)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if self._expected is not None:  # this process's first trial
            index = trial_index(study, trial)
            if index != self._expected:
                salted = random.Random(f"{self._seed}/worker/{index}").getrandbits(31)
                self._inner = self._make(salted)
            self._expected = None
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def replay(sampler: BaseSampler, study: Study, decisions: dict[str, Sequence[Any]]) -> int:
    """Feed ``study``'s finished trials (failed ones skipped) to ``sampler`` in order.

    Returns how many it re-proposed identically; replay stops at the first running
    trial or the first proposal that differs (a history written by several workers).
    """
    stored = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.FAIL]
    if not stored:
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = optuna.create_study(sampler=sampler, directions=study.directions)
    count = 0
    for old in stored:
        if old.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            break
        trial = memory.ask()
        proposed = {name: trial.suggest_categorical(name, list(choices))
                    for name, choices in decisions.items()}
        if proposed != old.params:
            break
        if old.state == TrialState.COMPLETE:
            memory.tell(trial, old.values)
        else:
            memory.tell(trial, state=TrialState.PRUNED)
        count += 1
    _forget_study(sampler)
    return count


def _forget_study(sampler: BaseSampler) -> None:
    """Drop the search space optuna samplers cache for the one study they serve: the
    replay's study is not the one they go on with (the space is recomputed, the same)."""
    for name, value in vars(sampler).items():
        if isinstance(value, IntersectionSearchSpace):
            setattr(sampler, name, IntersectionSearchSpace(include_pruned=value._include_pruned))
