"""Regularized (aging) evolution, Real et al. 2019: NB201's strongest discrete baseline.

The population is the last ``population`` finished trials of the study, so the
sampler keeps no state of its own: a resumed study continues the same search. Each
trial draws from its own RNG, seeded by (seed, trial index), so a resumed search
proposes exactly the archs an uninterrupted one would: a trial killed mid-evaluation
is failed, and the index skips failed trials (:func:`trial_index`).
"""
from __future__ import annotations

import random
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ...errors import ConfigError
from . import OPTIMIZERS, PerTrialSampler, trial_index


class RegularizedEvolution(PerTrialSampler):
    """Random archs until the population is full; then each child is a one-decision
    mutation of the best of ``tournament`` members drawn from the population."""

    def __init__(self, seed: int = 0, population: int = 50, tournament: int = 10) -> None:
        if not 1 <= tournament <= population:
            raise ConfigError(f"evolution needs 1 <= tournament <= population, got "
                              f"tournament={tournament}, population={population}")
        self.seed, self.population, self.tournament = seed, population, tournament
        self._children: dict[int, dict[str, Any]] = {}
        self._rngs: dict[int, random.Random] = {}

    def _rng(self, study: Study, trial: FrozenTrial) -> random.Random:
        """The trial's own RNG, the same whenever the trial at that index is drawn."""
        if trial.number not in self._rngs:
            index = trial_index(study, trial)
            self._rngs[trial.number] = random.Random(f"{self.seed}/{index}")
        return self._rngs[trial.number]

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if len(study.directions) > 1:
            raise ConfigError("evolution ranks trials by one score; for several objectives "
                              "use --optimizer nsga2 (or tpe, random)")
        rng = self._rng(study, trial)
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(done) >= self.population:
            members = rng.sample(done[-self.population:], self.tournament)
            pick = max if study.direction == StudyDirection.MAXIMIZE else min
            parent = pick(members, key=lambda t: t.value)
            self._children[trial.number] = _mutate(parent, rng)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if not isinstance(param_distribution, CategoricalDistribution):
            raise ConfigError(f"evolution searches categorical decisions; {param_name!r} is "
                              f"{type(param_distribution).__name__}")
        child = self._children.get(trial.number, {})
        if param_name in child and child[param_name] in param_distribution.choices:
            return child[param_name]
        return self._rng(study, trial).choice(param_distribution.choices)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self._children.pop(trial.number, None)
        self._rngs.pop(trial.number, None)


def _mutate(parent: FrozenTrial, rng: random.Random) -> dict[str, Any]:
    """``parent``'s params with one decision (that has a choice) set to another value."""
    child = dict(parent.params)
    open_ = [name for name, d in parent.distributions.items()
             if isinstance(d, CategoricalDistribution) and len(d.choices) > 1]
    if open_:
        name = rng.choice(open_)
        choices = parent.distributions[name].choices
        child[name] = rng.choice([c for c in choices if c != child[name]])
    return child


@OPTIMIZERS.register("evolution")
def evolution(seed: int, population: int = 50, tournament: int = 10) -> optuna.samplers.BaseSampler:
    return RegularizedEvolution(seed=seed, population=population, tournament=tournament)
