"""Architecture search, two stages with one entry point (``nasengine search``):
gradient-based (DARTS/GDAS-style, the ``gradient`` subpackage) on mixture supernets, and
discrete optuna studies (``arch_search``) over a trained supernet or a benchmark table.

The gradient-based names load torch on first use only, so a search worker over a
table, or the dashboard, starts without it.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {"RELAXATIONS": "gradient", "ArchParameters": "gradient", "MODES": "gradient",
         "DartsConfig": "gradient", "DartsSearch": "gradient", "plot_trajectories": "gradient"}

__all__ = ["MODES", "RELAXATIONS", "ArchParameters", "DartsConfig", "DartsSearch",
           "plot_trajectories"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_LAZY[name]}", __name__), name)
