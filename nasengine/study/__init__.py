"""Supernet ranking studies: methods x seeds at one budget and protocol, one report.

``nasengine study CONFIG --out DIR`` (or :func:`nasengine.api.study`) reads a study TOML
(:mod:`.config`), runs its cells in parallel worker processes (:mod:`.runner`) and writes
``study.json``/``study.md`` with plots and their CSV data (:mod:`.report`).
"""
from __future__ import annotations

from .analysis import CellStats, Truth, cell_stats, paired_test, summarize
from .config import Cell, StudyConfig, load_study
from .runner import run_study

__all__ = ["Cell", "CellStats", "StudyConfig", "Truth", "cell_stats", "load_study",
           "paired_test", "run_study", "summarize"]
