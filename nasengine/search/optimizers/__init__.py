"""Search-time optimisers: which arch to evaluate next with a trained supernet.

Each optimiser is an optuna sampler, so a search is an optuna study: trials live in
its storage (resumable, inspectable with optuna's tools), and any optuna sampler can
stand in. Registered by name; ``tests/search/test_optimizers.py`` holds every entry to
one contract.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from ...registry import Registry

OptimizerFactory = Callable[..., BaseSampler]
"""(seed, **options) -> an optuna sampler over categorical decisions."""

OPTIMIZERS: Registry[BaseSampler] = Registry("search optimizer")


class PerTrialSampler(BaseSampler):
    """An optuna sampler that picks each decision itself (``sample_independent``) and has
    no joint model for optuna to fit: the base of nasengine's own optimisers."""

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}


def create_optimizer(name: str, seed: int, options: dict[str, Any] | None = None,
                     sampler: Any = None) -> BaseSampler:
    """``sampler`` (the run's trained sampler) goes to factories that name it, e.g. the
    ENAS controller's final selection; it is not a user option."""
    from . import builtin, evolution, policy  # noqa: F401  (register the bundled optimizers)

    context: dict[str, Any] = {"seed": seed}
    if "sampler" in inspect.signature(OPTIMIZERS.get(name)).parameters:
        context["sampler"] = sampler
    return OPTIMIZERS.create(name, options, **context)


def trial_index(study: Study, trial: FrozenTrial) -> int:
    """``trial``'s position among the study's trials that were not failed.

    A killed or interrupted trial is failed and skipped, so the trial that replaces
    it gets its index: a sampler that draws by index repeats the uninterrupted search.
    """
    return sum(t.number < trial.number and t.state != TrialState.FAIL
               for t in study.get_trials(deepcopy=False))


__all__ = ["OPTIMIZERS", "PerTrialSampler", "create_optimizer", "trial_index"]
