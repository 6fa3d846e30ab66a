"""Ground truth that rankings are compared against.

:class:`Benchmark` is the oracle interface; :class:`NB201Table` serves the
NAS-Bench-201 / NATS-Bench topology results from one compact table;
:func:`convert_nats` builds that table from an official benchmark file.
"""
from __future__ import annotations

from .base import Benchmark
from .nats import convert_nats
from .nb201 import ACCURACY_COLUMNS, COST_SUFFIXES, NB201Table, accuracy_column, default_path
from .truth import CSVBenchmark, GroundTruth

__all__ = ["ACCURACY_COLUMNS", "COST_SUFFIXES", "Benchmark", "CSVBenchmark", "GroundTruth",
           "NB201Table", "accuracy_column", "convert_nats", "default_path"]
