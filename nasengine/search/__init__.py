"""Gradient-based architecture search (DARTS/GDAS-style) on mixture supernets."""
from .alpha import RELAXATIONS, ArchParameters
from .darts import MODES, DartsConfig, DartsSearch, plot_trajectories

__all__ = ["MODES", "RELAXATIONS", "ArchParameters", "DartsConfig", "DartsSearch",
           "plot_trajectories"]
