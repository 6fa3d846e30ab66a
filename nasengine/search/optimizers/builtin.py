"""optuna's own samplers under nasengine names: the baselines a new optimiser must beat."""
from __future__ import annotations

import optuna

from . import OPTIMIZERS


@OPTIMIZERS.register("random")
def random_search(seed: int) -> optuna.samplers.BaseSampler:
    """Uniform random archs: the baseline of every NAS search comparison."""
    return optuna.samplers.RandomSampler(seed=seed)


@OPTIMIZERS.register("tpe")
def tpe(seed: int, startup: int = 20, multivariate: bool = True) -> optuna.samplers.BaseSampler:
    """Tree-structured Parzen estimator (optuna's default), decisions modelled jointly."""
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup,
                                      multivariate=multivariate)
