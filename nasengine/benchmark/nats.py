"""Make the compact NB201 table from an official NATS-Bench (topology) or NB201 file.

Only needed to rebuild ``nb201.csv.gz`` (format: :mod:`nasengine.benchmark.nb201`);
the official API is an optional dependency (``pip install nasengine[nats]``).

The API has two traps this module avoids on purpose:

* ``get_more_info`` defaults to ``hp='12'``, the 12-epoch schedule; the headline
  NB201 numbers are ``hp='200'``, asked for explicitly (``hp='12'`` only for ``_12ep``).
* ``is_random=True`` (the default) returns one random seed; ``is_random=False``
  gives the mean over seeds that NB201 reports.
"""
from __future__ import annotations

import importlib
import math
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import DataError
from .nb201 import ACCURACY_COLUMNS, COST_SUFFIXES, NB201Table

_SPLIT_KEYS = {"test": "test-accuracy", "valid": "valid-accuracy", "train": "train-accuracy"}


class _Field(NamedTuple):
    """One output column: which API call, dataset, schedule and result key hold it."""

    column: str
    call: str  # "more" (get_more_info) or "cost" (get_cost_info)
    dataset: str
    hp: str
    key: str


def _fields() -> list[_Field]:
    acc = [_Field(col, "more", ds, str(ep), _SPLIT_KEYS[split])
           for (ds, split, ep), col in ACCURACY_COLUMNS.items()]
    cost = [_Field(f"{kind}_M_{suffix}", "cost", ds, "", kind)
            for kind in ("params", "flops") for ds, suffix in COST_SUFFIXES.items()]
    return acc + cost


def convert_nats(source: str, out: Path, progress: bool = True) -> Path:
    """Query every arch of ``source`` and write the compact table to ``out`` atomically.

    Columns the source does not hold for arch 0 (e.g. no 12-epoch results) are left
    out with a warning; a column present for arch 0 but missing later is an error.
    """
    from tqdm import tqdm

    api = _open_api(str(source))
    first: dict[tuple, dict] = {}
    fields = [f for f in _fields() if _value(api, 0, f, first) is not None]
    skipped = [f.column for f in _fields() if f not in fields]
    if not any(f.call == "more" for f in fields):
        raise DataError(f"{source} holds no accuracies for arch 0; pass the NATS-Bench "
                        "topology file (NATS-tss-v1_0-3ffb9-simple) or an NB201 .pth file")
    if skipped:
        warnings.warn(f"{source} lacks {', '.join(skipped)}; left out of {out}", stacklevel=2)
    index, archs, values = [], [], {f.column: [] for f in fields}
    for i in tqdm(range(len(api)), desc="convert-nats", unit="arch", disable=not progress):
        cache = first if i == 0 else {}
        for f in fields:
            values[f.column].append(_required(api, i, f, cache, source))
        index.append(i)
        archs.append(str(api.arch(i)))
        _release(api, i)
    return NB201Table(index, archs, values, source=str(source)).save(out)


def _open_api(source: str) -> Any:
    """The official API object for ``source`` (a NATS folder/file or an NB201 .pth)."""
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{source} does not exist; pass the NATS-tss-v1_0-3ffb9-simple folder "
                        "(or NATS-tss-v1_0-3ffb9.pickle.pbz2, or an NB201 .pth file)")
    if path.suffix == ".pth":
        api_module, pip_name = "nas_201_api", "nas-bench-201"
    else:
        api_module, pip_name = "nats_bench", "nasengine[nats] (or pip install nats_bench)"
    try:
        module = importlib.import_module(api_module)
    except ImportError as exc:
        raise DataError(f"reading {source} needs the official {api_module} package, which is "
                        f"not installed; pip install {pip_name}") from exc
    try:
        if api_module == "nas_201_api":
            return module.NASBench201API(str(path), verbose=False)
        return module.create(str(path), "tss", fast_mode=path.is_dir(), verbose=False)
    except Exception as exc:  # the official APIs raise ValueError, AssertionError, pickle errors
        raise DataError(f"{api_module} could not open {source} ({type(exc).__name__}: {exc}); "
                        "pass the NATS-tss-v1_0-3ffb9-simple folder or an NB201 .pth file"
                        ) from exc


def _value(api: Any, i: int, field: _Field, cache: dict[tuple, dict]) -> float | None:
    """One number from the API, or None if the source does not hold it."""
    key = (field.call, field.dataset, field.hp)
    if key not in cache:
        try:
            if field.call == "more":
                cache[key] = api.get_more_info(i, field.dataset, hp=field.hp, is_random=False)
            else:
                cache[key] = api.get_cost_info(i, field.dataset)
        except Exception:  # noqa: BLE001 -- absent results raise KeyError/ValueError/AssertionError
            cache[key] = {}
    value = cache[key].get(field.key)
    return None if value is None else float(value)


def _required(api: Any, i: int, field: _Field, cache: dict[tuple, dict], source: str) -> float:
    value = _value(api, i, field, cache)
    if value is None or not math.isfinite(value):
        raise DataError(f"{source}: arch {i} has no finite {field.column} ({field.dataset}, "
                        f"{field.key}{', hp=' + field.hp if field.hp else ''}) although arch 0 "
                        "has; the source is incomplete, re-download it")
    return value


def _release(api: Any, i: int) -> None:
    """Drop arch ``i``'s loaded results: fast mode otherwise keeps all 15,625 in memory."""
    infos = getattr(api, "arch2infos_dict", None)
    if isinstance(infos, dict):
        infos.pop(i, None)
