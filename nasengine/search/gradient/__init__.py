"""Gradient search (DARTS/GDAS-style): alpha per decision of a mixture supernet, trained by
gradient descent beside the weights; the argmax of alpha is the found arch.

A stage of its own beside the discrete optuna search of :mod:`nasengine.search.arch_search`;
both start from ``nasengine search`` (``--optimizer darts|gdas`` picks this one).
"""
from __future__ import annotations

from .alpha import RELAXATIONS, ArchParameters
from .darts import MODES, DartsConfig, DartsSearch, plot_trajectories
from .run import GRADIENT_SEARCHES, GradientSearchOptions, gradient_search

__all__ = ["GRADIENT_SEARCHES", "MODES", "RELAXATIONS", "ArchParameters", "DartsConfig",
           "DartsSearch", "GradientSearchOptions", "gradient_search", "plot_trajectories"]
