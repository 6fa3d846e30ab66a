"""NAS-Bench-201 / NATS-Bench (topology) ground truth from one compact CSV table.

The official benchmark files are gigabytes of pickles behind a slow API; the
ranking report needs a handful of numbers per arch. So the ground truth lives in
one small table, read once in well under a second.

Format (``nb201.csv.gz``; gzip, or a plain ``.csv``, detected from the bytes):

* UTF-8 CSV with one header row, then one row per architecture.
* ``index``: integer architecture index (0..15624 in NB201 / NATS-Bench tss).
* ``arch``: official arch string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``.
* Accuracy columns (%, mean over seeds): names containing ``_acc``; at least one is
  required. :data:`ACCURACY_COLUMNS` says which (dataset, split, epochs) each
  standard name holds; ``_12ep`` marks the 12-epoch schedule, the rest are 200 epochs.
* Cost columns: ``params_M_<ds>`` (millions) and ``flops_M_<ds>`` (MFLOPs) for
  ``<ds>`` in ``cifar10``, ``cifar100``, ``imagenet16_120``; ``latency_ms_*``.
* Extra numeric columns are allowed and can be queried by name. Every value must
  be a finite number; no missing cells.

``nasengine convert-nats`` writes this format from an official file
(:mod:`nasengine.benchmark.nats`).
"""
from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, SpaceError
from ..paths import data_root
from .base import Benchmark

#: (NB201 dataset, split, epochs) -> column. Datasets use the official NB201 names.
ACCURACY_COLUMNS: dict[tuple[str, str, int], str] = {
    ("cifar10", "test", 200): "cifar10_test_acc",
    ("cifar100", "test", 200): "cifar100_test_acc",
    ("ImageNet16-120", "test", 200): "imagenet16_120_test_acc",
    ("cifar10-valid", "valid", 200): "cifar10_valid_acc",
    ("cifar10-valid", "test", 200): "cifar10_valid_oritest_acc",
    ("cifar10-valid", "train", 200): "cifar10_valid_train_acc",
    ("cifar10-valid", "valid", 12): "cifar10_valid_acc_12ep",
    ("cifar10", "test", 12): "cifar10_test_acc_12ep",
    ("cifar100", "valid", 12): "cifar100_valid_acc_12ep",
    ("cifar100", "test", 12): "cifar100_test_acc_12ep",
    ("ImageNet16-120", "valid", 12): "imagenet16_120_valid_acc_12ep",
    ("ImageNet16-120", "test", 12): "imagenet16_120_test_acc_12ep",
    # written by convert-nats; absent from the shared compact file
    ("cifar100", "valid", 200): "cifar100_valid_acc",
    ("ImageNet16-120", "valid", 200): "imagenet16_120_valid_acc",
}
#: official dataset name -> suffix of its params_M_* / flops_M_* columns
COST_SUFFIXES: dict[str, str] = {"cifar10": "cifar10", "cifar100": "cifar100",
                                 "ImageNet16-120": "imagenet16_120"}
_COST_ALIASES = {"cifar10-valid": "cifar10"}  # same network (10-class head)
_ACC_BY_KEY = {(d.lower(), s, e): c for (d, s, e), c in ACCURACY_COLUMNS.items()}
_REQUIRED = ("index", "arch")


def default_path() -> Path:
    """Where the table is looked for when no path is given."""
    return data_root() / "nb201" / "nb201.csv.gz"


class NB201Table(Benchmark):
    """The NB201 ground truth in memory: columns as arrays, arch -> row as a dict."""

    def __init__(self, index: Sequence[int], archs: Sequence[str],
                 columns: Mapping[str, Sequence[float]], source: str = "<memory>") -> None:
        self.source = source
        self._index = np.asarray(index, dtype=np.int64)
        self._archs = list(archs)
        self._cols = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
        bad = [k for k, v in {"index": self._index, **self._cols}.items()
               if v.shape != (len(self._archs),)]
        if bad:
            raise DataError(f"{source}: columns {bad} do not have one value per arch "
                            f"({len(self._archs)}); rebuild the table")
        self._row = _unique_positions(self._archs, "arch", source)
        self._row_of_index = _unique_positions(self._index.tolist(), "index", source)
        self._order = [self._archs[i] for i in np.argsort(self._index, kind="stable")]

    @classmethod
    def from_path(cls, path: str | Path | None = None) -> NB201Table:
        """Read the compact table (``None``: ``$NASENGINE_DATA/nb201/nb201.csv.gz``)."""
        path = Path(path).expanduser() if path is not None else default_path()
        if not path.is_file():
            raise DataError(
                f"NB201 ground truth not found at {path}. Set NASENGINE_DATA to the folder "
                "that holds nb201/nb201.csv.gz (or pass the file's path), or make the file from "
                "an official NATS-Bench/NB201 file: nasengine convert-nats "
                f"<NATS-tss-v1_0-3ffb9-simple folder> {path}")
        header, rows = _read_csv(path)
        return cls(*_parse(header, rows, path), source=str(path))

    def save(self, path: str | Path) -> Path:
        """Write the table in the compact format (gzip if the name ends in .gz), atomically."""
        from ..checkpoint import atomic_write  # imports torch: only when writing

        path = Path(path)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*_REQUIRED, *self._cols])
        columns = list(self._cols.values())
        for row, (index, arch) in enumerate(zip(self._index.tolist(), self._archs)):
            writer.writerow([index, arch, *(f"{c[row]:.12g}" for c in columns)])
        data = buf.getvalue().encode("utf-8")
        if path.name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)  # mtime=0: same input, same bytes
        return atomic_write(path, lambda tmp: tmp.write_bytes(data))

    def __len__(self) -> int:
        return len(self._archs)

    def __contains__(self, arch: object) -> bool:
        return arch in self._row

    def __repr__(self) -> str:
        return f"NB201Table({len(self)} archs, {len(self._cols)} metrics, source={self.source!r})"

    @property
    def archs(self) -> list[str]:
        """All arch strings in index order."""
        return list(self._order)

    def metrics(self) -> list[str]:
        return list(self._cols)

    def query(self, arch: str, metric: str) -> float:
        column = self._cols.get(metric)
        if column is None:
            raise ConfigError(f"metric {metric!r} is not in {self.source}; it holds: "
                              f"{', '.join(self._cols)} (convert-nats writes the full set)")
        return float(column[self._position(arch)])

    def index_of(self, arch: str) -> int:
        """The benchmark index of ``arch``."""
        return int(self._index[self._position(arch)])

    def arch_of(self, index: int) -> str:
        """The arch string at benchmark index ``index``."""
        row = self._row_of_index.get(int(index))
        if row is None:
            lo, hi = self._index.min(), self._index.max()
            raise SpaceError(f"index {index} is not in {self.source} ({len(self)} archs, "
                             f"indices {lo}..{hi}); use an index the table holds")
        return self._archs[row]

    def accuracy(self, arch: str, dataset: str = "cifar10", split: str = "test",
                 epochs: int = 200) -> float:
        """Mean accuracy (%) of ``arch`` for an NB201 (dataset, split, epochs) triple."""
        return self.query(arch, accuracy_column(dataset, split, epochs))

    def best_accuracy(self, dataset: str = "cifar10", split: str = "test",
                      epochs: int = 200) -> float:
        """The highest :meth:`accuracy` in the table: the optimum regret is measured from."""
        return self.best(accuracy_column(dataset, split, epochs))[1]

    def params(self, arch: str, dataset: str = "cifar10") -> float:
        """Parameters in millions (the head depends on the dataset's classes)."""
        return self.query(arch, f"params_M_{_cost_suffix(dataset)}")

    def flops(self, arch: str, dataset: str = "cifar10") -> float:
        """MFLOPs as NB201 counts them."""
        return self.query(arch, f"flops_M_{_cost_suffix(dataset)}")

    def _position(self, arch: str) -> int:
        row = self._row.get(arch)
        if row is None:
            raise SpaceError(f"arch {arch!r} is not in {self.source}; NB201 arch strings look "
                             "like |nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|"
                             "avg_pool_3x3~2|")
        return row


def accuracy_column(dataset: str, split: str, epochs: int) -> str:
    """The table column holding (dataset, split, epochs); ConfigError lists valid triples."""
    column = _ACC_BY_KEY.get((str(dataset).lower(), str(split).lower(), int(epochs)))
    if column is None:
        valid = "; ".join(f"({d}, {s}, {e})" for d, s, e in ACCURACY_COLUMNS)
        raise ConfigError(f"no NB201 accuracy for dataset={dataset!r}, split={split!r}, "
                          f"epochs={epochs}; valid (dataset, split, epochs): {valid}")
    return column


def _cost_suffix(dataset: str) -> str:
    by_lower = {d.lower(): s for d, s in COST_SUFFIXES.items()}
    suffix = by_lower.get(_COST_ALIASES.get(dataset.lower(), dataset.lower()))
    if suffix is None:
        raise ConfigError(f"no NB201 costs for dataset {dataset!r}; use one of "
                          f"{', '.join([*COST_SUFFIXES, *_COST_ALIASES])}")
    return suffix


def _unique_positions(keys: Sequence, what: str, source: str) -> dict:
    """key -> position, refusing duplicates (they would make lookups ambiguous)."""
    positions: dict = {}
    for pos, key in enumerate(keys):
        if key in positions:
            raise DataError(f"{source}: {what} {key!r} appears twice (data rows "
                            f"{positions[key] + 1} and {pos + 1}); rebuild the table")
        positions[key] = pos
    return positions


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, fields) rows of a gzip or plain CSV; blank lines skipped."""
    with path.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = [(reader.line_num, r) for r in reader if r]
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path} is not a readable {'gzip ' if gz else ''}CSV file "
                        f"({type(exc).__name__}: {exc}); re-copy it or rebuild it with "
                        "nasengine convert-nats") from exc
    if not header:
        raise DataError(f"{path} is empty; re-copy it or rebuild it with nasengine convert-nats")
    return [h.strip() for h in header], rows


def _parse(header: list[str], rows: list[tuple[int, list[str]]], path: Path
           ) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    """Check the header and every row; return index, archs and numeric columns."""
    _check_header(header, path)
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(f"{path}, line {line}: {len(row)} fields, the header has "
                            f"{len(header)}; the file is corrupt, re-copy or rebuild it")
    if not rows:
        raise DataError(f"{path} has a header but no rows; rebuild it with nasengine convert-nats")
    cols = list(zip(*(r for _, r in rows)))
    try:
        index = np.asarray(cols[header.index("index")], dtype=np.int64)
        values = {h: np.asarray(c, dtype=np.float64) for h, c in zip(header, cols)
                  if h not in _REQUIRED}
    except ValueError:
        raise _bad_value(header, rows, path) from None
    if not all(np.isfinite(v).all() for v in values.values()):
        raise _bad_value(header, rows, path)
    archs = [a.strip() for a in cols[header.index("arch")]]
    return index, archs, values


def _check_header(header: list[str], path: Path) -> None:
    problems = [f"no {name!r} column" for name in _REQUIRED if name not in header]
    if not any("_acc" in h for h in header):
        problems.append("no accuracy column (a name containing '_acc')")
    dups = sorted({h for h in header if header.count(h) > 1})
    if dups:
        problems.append(f"repeated columns {dups}")
    if problems:
        raise DataError(f"{path}: bad header ({'; '.join(problems)}); expected "
                        "index,arch,cifar10_test_acc,... as written by nasengine convert-nats")


def _bad_value(header: list[str], rows: list[tuple[int, list[str]]], path: Path) -> DataError:
    """Find the first non-numeric or non-finite cell (slow path, only on error)."""
    for line, row in rows:
        for name, cell in zip(header, row):
            if name == "arch":
                continue
            try:
                ok = bool(np.isfinite(int(cell) if name == "index" else float(cell)))
            except ValueError:
                ok = False
            if not ok:
                kind = "an integer" if name == "index" else "a finite number"
                return DataError(f"{path}, line {line}, column {name!r}: {cell!r} is not {kind}; "
                                 "the file is corrupt, re-copy or rebuild it")
    return DataError(f"{path}: a value could not be read; re-copy or rebuild the file")
