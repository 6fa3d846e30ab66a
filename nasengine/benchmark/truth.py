"""Ground truth owned by a search space: a :class:`Benchmark`, the metric that is the
"true accuracy", and optionally the column holding parameter counts.

A family returns one from :meth:`~nasengine.families.SpaceFamily.ground_truth` (NB201 its
table; any space a :class:`CSVBenchmark` keyed by its own arch strings) or None, in
which case rankings report the supernet's order and complexity without a tau.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, DataError, SpaceError
from .base import Benchmark
from .nb201 import _read_csv, _unique_positions

if TYPE_CHECKING:  # pragma: no cover
    from ..config import EvalConfig

PARAMS_COLUMN = "params_M"


@dataclass(frozen=True)
class GroundTruth:
    """``benchmark``'s ``metric`` is the true accuracy (%); ``params`` the #params column."""

    benchmark: Benchmark
    metric: str
    name: str  # what the report calls it, e.g. "cifar10/test"
    params: str | None = None

    def accuracy(self, arch: str) -> float:
        return self.benchmark.query(arch, self.metric)

    def accuracies(self, archs: Iterable[str]) -> list[float]:
        return self.benchmark.query_many(archs, self.metric).tolist()

    def best(self) -> float:
        """The best true accuracy in the benchmark (the optimum regret is measured from)."""
        return self.benchmark.best(self.metric)[1]

    def params_of(self, archs: Iterable[str]) -> list[float] | None:
        """#params (M) from the table, or None when it holds none (measure them instead)."""
        return None if self.params is None else self.benchmark.query_many(archs, self.params).tolist()


class CSVBenchmark(Benchmark):
    """Any space's ground truth: a CSV with an ``arch`` column in the space's own format
    (:meth:`SearchSpace.format`) and numeric columns, e.g. ``cifar10_test_acc``, ``params_M``.
    """

    def __init__(self, archs: Sequence[str], columns: Mapping[str, Sequence[float]],
                 source: str = "<memory>") -> None:
        self.source, self._archs = source, list(archs)
        self._cols = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
        self._row = _unique_positions(self._archs, "arch", source)

    @classmethod
    def from_path(cls, path: str | Path) -> CSVBenchmark:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"ground-truth table {path} not found; give evaluate.oracle the path "
                            "of a CSV with an 'arch' column and numeric columns")
        header, rows = _read_csv(path)
        if "arch" not in header or len(header) < 2:
            raise DataError(f"{path}: expected an 'arch' column and at least one numeric column, "
                            f"got {header}")
        columns: dict[str, list[float]] = {h: [] for h in header if h != "arch"}
        archs = []
        for line, row in rows:
            if len(row) != len(header):
                raise DataError(f"{path}, line {line}: {len(row)} fields, the header has "
                                f"{len(header)}")
            for name, cell in zip(header, row):
                if name == "arch":
                    archs.append(cell.strip())
                    continue
                try:
                    columns[name].append(float(cell))
                except ValueError:
                    raise DataError(f"{path}, line {line}, column {name!r}: {cell!r} is not a "
                                    "number") from None
        return cls(archs, columns, str(path))

    @property
    def archs(self) -> list[str]:
        return list(self._archs)

    def metrics(self) -> list[str]:
        return list(self._cols)

    def query(self, arch: str, metric: str) -> float:
        column = self._cols.get(metric)
        if column is None:
            raise ConfigError(f"metric {metric!r} is not in {self.source}; it holds "
                              f"{self.metrics()}")
        row = self._row.get(arch)
        if row is None:
            raise SpaceError(f"arch {arch!r} is not in {self.source} ({len(self._archs)} archs, "
                             f"e.g. {self._archs[0]!r}); key the table by the space's arch strings")
        return float(column[row])


def accuracy_metric(evaluate: EvalConfig) -> str:
    """The column named by the run's oracle dataset and split, e.g. ``cifar10_test_acc``."""
    return f"{evaluate.oracle_dataset}_{evaluate.oracle_split}_acc".lower().replace("-", "_")


def csv_ground_truth(evaluate: EvalConfig) -> GroundTruth:
    """``evaluate.oracle`` as a :class:`CSVBenchmark` judged on :func:`accuracy_metric`."""
    table = CSVBenchmark.from_path(evaluate.oracle)
    metric = accuracy_metric(evaluate)
    if metric not in table.metrics():
        raise ConfigError(f"{table.source} has no column {metric!r} (evaluate.oracle_dataset="
                          f"{evaluate.oracle_dataset!r}, oracle_split={evaluate.oracle_split!r}); "
                          f"it holds {table.metrics()}")
    params = PARAMS_COLUMN if PARAMS_COLUMN in table.metrics() else None
    return GroundTruth(table, metric, f"{evaluate.oracle_dataset}/{evaluate.oracle_split}", params)
