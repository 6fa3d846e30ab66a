"""The oracle interface: what a ranking is compared against.

A :class:`Benchmark` maps official architecture strings to measured quantities
(accuracies, parameter counts, FLOPs, latencies). Keeping it this small lets a
tabular benchmark, a surrogate or a live training run stand in for one another.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from ..errors import ConfigError


class Benchmark(ABC):
    """Ground truth keyed by official arch strings."""

    @property
    @abstractmethod
    def archs(self) -> list[str]:
        """Every architecture the benchmark holds, in its canonical order."""

    @abstractmethod
    def metrics(self) -> list[str]:
        """Names of the quantities :meth:`query` accepts."""

    @abstractmethod
    def query(self, arch: str, metric: str) -> float:
        """The value of ``metric`` for ``arch``."""

    def query_many(self, archs: Iterable[str], metric: str) -> np.ndarray:
        """:meth:`query` for many archs at once, as a float array in the given order."""
        return np.array([self.query(a, metric) for a in archs], dtype=np.float64)

    def best(self, metric: str, *, minimize: bool = False) -> tuple[str, float]:
        """The arch with the highest (or, for costs, lowest) ``metric``; ties: first in order.

        Gives the optimum that global regret is measured against.
        """
        archs = self.archs
        if not archs:
            raise ConfigError(f"{type(self).__name__} holds no architectures; load a "
                              "non-empty table")
        values = self.query_many(archs, metric)
        pos = int(np.argmin(values) if minimize else np.argmax(values))
        return archs[pos], float(values[pos])
