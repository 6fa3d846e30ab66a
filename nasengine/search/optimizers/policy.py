"""Final selection from a learned sampling policy (ENAS): archs drawn from the trained sampler.

ENAS ends its search by sampling archs from its trained controller, scoring each with
the shared weights and keeping the best. Here that is one more optimiser: trial ``n``
proposes a draw from the checkpoint's sampler, made with its own generator seeded by
(seed, n) (``n`` skips failed trials, :func:`trial_index`), so a resumed study proposes
exactly what an uninterrupted one would, and
the scoring, the study storage and the report (regret curve on NB201) are those of
every other search. Any sampler with a :class:`Policy` ``draw`` method qualifies.
"""
from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

import torch
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from ...errors import ConfigError
from ...space import Sample
from . import OPTIMIZERS, PerTrialSampler, trial_index


@runtime_checkable
class Policy(Protocol):
    """A trained sampler that can draw archs from its distribution with a given generator."""

    def draw(self, n: int, generator: torch.Generator | None = None) -> list[Sample]: ...


class PolicySampler(PerTrialSampler):
    """Each trial is one draw from ``policy``; the optuna study only records and caches."""

    def __init__(self, policy: Policy, seed: int = 0) -> None:
        self.policy, self.seed = policy, seed
        self._archs: dict[int, Sample] = {}

    def _draw(self, study: Study, trial: FrozenTrial) -> Sample:
        if trial.number not in self._archs:
            index = trial_index(study, trial)
            gen = torch.Generator().manual_seed(random.Random(f"{self.seed}/{index}")
                                                .getrandbits(63))
            self._archs[trial.number] = self.policy.draw(1, gen)[0]
        return self._archs[trial.number]

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._draw(study, trial)[param_name]

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self._archs.pop(trial.number, None)


@OPTIMIZERS.register("controller")
def controller(seed: int, sampler: Any = None) -> BaseSampler:
    """Draws from the run's trained sampler (the ENAS controller's final selection)."""
    if not isinstance(sampler, Policy):
        raise ConfigError(f"optimizer 'controller' draws archs from the run's trained sampler, "
                          f"but {type(sampler).__name__} has no policy to draw from; train with "
                          "sampler.name=enas, or search with evolution, tpe or random")
    return PolicySampler(sampler, seed)
