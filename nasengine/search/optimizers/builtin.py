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


@OPTIMIZERS.register("nsga2")
def nsga2(seed: int, population: int = 20, crossover: float = 0.9) -> optuna.samplers.BaseSampler:
    """NSGA-II (Deb et al. 2002): non-dominated sorting with crowding distance, the
    baseline of hardware-aware (accuracy vs cost) search; single-objective it is a GA."""
    return optuna.samplers.NSGAIISampler(population_size=population, crossover_prob=crossover,
                                         seed=seed)
