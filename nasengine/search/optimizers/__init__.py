"""Search-time optimisers: which arch to evaluate next with a trained supernet.

Each optimiser is an optuna sampler, so a search is an optuna study: trials live in
its storage (resumable, inspectable with optuna's tools), and any optuna sampler can
stand in. Registered by name; ``tests/search/test_optimizers.py`` holds every entry to
one contract.
"""
from __future__ import annotations

from typing import Any, Callable

from optuna.samplers import BaseSampler

from ...registry import Registry

OptimizerFactory = Callable[..., BaseSampler]
"""(seed, **options) -> an optuna sampler over categorical decisions."""

OPTIMIZERS: Registry[BaseSampler] = Registry("search optimizer")


def create_optimizer(name: str, seed: int, options: dict[str, Any] | None = None) -> BaseSampler:
    from . import builtin, evolution  # noqa: F401  (register the bundled optimizers)

    return OPTIMIZERS.create(name, options, seed=seed)


__all__ = ["OPTIMIZERS", "create_optimizer"]
