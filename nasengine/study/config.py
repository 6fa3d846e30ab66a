"""Study configs: a base preset, a grid of methods (config overrides) and seeds.

A study file (TOML) looks like::

    preset = "cpu-proxy"           # base run config: a preset name or a TOML path
    seeds = [0, 1, 2]
    baseline = "uniform"           # what every method is tested against (paired)
    workers = 2                    # parallel 1-thread cell processes

    [config]                       # overrides for every cell (same shape as a run config)
    evaluate.track_every = 2

    [methods.uniform]
    sampler.name = "uniform"

    [methods."PA&DA"]
    sampler = { name = "pada", options = { path = true, data = true } }

A method is only config: any registered sampler, supernet kind or few-shot strategy works
by naming it. What makes a comparison fair is checked here, once, for every method: the
same training budget (epochs, training images) and the same evaluation protocol (archs,
BN handling, images, oracle) - a method that changes them is refused.
"""
from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoint import _differences
from ..config import PRESET_DIR, RunConfig, from_dict, load_config
from ..config import _apply_override as apply_override
from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: run-config fields that change how fast a cell runs or how the report resamples, never
#: what a cell computes
MACHINE_FIELDS = (("device",), ("threads",), ("estimate_cost",), ("evaluate", "workers"),
                  ("evaluate", "bootstrap"))
#: fields that only say which rivals the report shows beside the cells (the proxies are
#: scored at the report, on the same archs), never what a cell trains or scores
REPORT_FIELDS = (("proxies",),)
_STUDY_KEYS = {"preset", "seeds", "baseline", "workers", "config", "methods", "title"}


@dataclass
class Cell:
    """One (method, seed) run of a study and the folder it lives in."""

    method: str
    seed: int
    config: RunConfig
    path: Path


@dataclass
class StudyConfig:
    preset: str
    methods: dict[str, dict[str, Any]]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    baseline: str | None = None
    workers: int = 1
    config: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    overrides: list[str] = field(default_factory=list)  # ``--set`` items for every cell

    def __post_init__(self) -> None:
        if not self.methods:
            raise ConfigError("a study needs at least one [methods.NAME] table")
        if not isinstance(self.seeds, list) or not self.seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in self.seeds) or len(
                set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be a list of distinct integers, got {self.seeds!r}")
        if not isinstance(self.config, dict) or not isinstance(self.methods, dict):
            raise ConfigError("[config] and [methods.NAME] must be tables of config overrides")
        if self.baseline is None:
            self.baseline = next(iter(self.methods))
        if self.baseline not in self.methods:
            raise ConfigError(f"baseline {self.baseline!r} is not a method; methods: "
                              f"{list(self.methods)}")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ConfigError(f"workers must be a whole number >= 1, got {self.workers!r}")
        slugs = [slug(m) for m in self.methods]
        if len(set(slugs)) != len(slugs):
            raise ConfigError(f"method names {list(self.methods)} clash as folder names "
                              f"{slugs}; rename them")
        for method, values in self.methods.items():
            if not isinstance(values, dict) or "seed" in values:
                raise ConfigError(f"[methods.{method}] must be a table of config overrides "
                                  "without 'seed' (seeds come from the study's seeds)")

    def run_config(self, method: str, seed: int) -> RunConfig:
        """The full run config of one cell: preset, then [config], the method, --set, seed."""
        values = load_config(self.preset).to_dict()
        for layer in (self.config, self.methods[method]):
            values = _merge(values, layer)
        for item in self.overrides:
            apply_override(values, item)
        values["seed"] = seed
        try:
            return from_dict(values)
        except ConfigError as exc:
            raise ConfigError(f"study cell {method!r} (preset, [config], [methods.{method}], "
                              f"--set): {exc}") from None

    def cells(self, root: Path) -> list[Cell]:
        """Every cell, seed-major (each seed's methods finish together), budget-checked."""
        self.check_fair()
        return [Cell(m, s, self.run_config(m, s), root / "cells" / slug(m) / f"seed{s}")
                for s in self.seeds for m in self.methods]

    def check_fair(self) -> None:
        """Refuse methods whose budget or evaluation protocol differ from the baseline's."""
        from ..proxies.setup import check_names
        from ..samplers import SAMPLERS

        ref = protocol(self.run_config(self.baseline, self.seeds[0]))
        for method in self.methods:
            config = self.run_config(method, self.seeds[0])
            SAMPLERS.get(config.sampler.name)  # an unknown name fails here, listing the known
            check_names(config)  # so do unknown proxies, before the study writes anything
            diff = _differences(ref, protocol(config))
            if diff:
                raise ConfigError(
                    f"method {method!r} changes the training budget or evaluation protocol "
                    f"every cell must share ({'; '.join(diff)}); set those in the study's "
                    "[config] table so every method gets them")


def protocol(config: RunConfig) -> dict[str, Any]:
    """What every cell of a study must share: epochs, training data, evaluation."""
    d = identity(config)
    return {"epochs": d["train"]["epochs"], "data": d["data"], "evaluate": d["evaluate"],
            "space": d["supernet"]["space"], "num_classes": d["supernet"]["num_classes"]}


def identity(config: RunConfig | dict[str, Any]) -> dict[str, Any]:
    """The config a finished cell must have been made under: all but machine and report
    fields, except report fields its sampler trains by (the proxy prior's ``proxies.*``; a
    dict is taken as a stored identity, which may predate a report field)."""
    d = copy.deepcopy(config) if isinstance(config, dict) else config.to_dict()
    kept = {path: value for path in _read_by_sampler(d)
            if (value := _field(d, path)) is not _MISSING}
    for path in MACHINE_FIELDS + REPORT_FIELDS:
        parent = d
        for key in path[:-1]:
            parent = parent.get(key, {})
        parent.pop(path[-1], None)
    for path, value in kept.items():  # a report field the cell's sampler trains by
        parent = d
        for key in path[:-1]:
            parent = parent.setdefault(key, {})
        parent[path[-1]] = value
    return d


_MISSING = object()


def _read_by_sampler(d: dict[str, Any]) -> list[tuple[str, ...]]:
    """The fields outside ``sampler`` that the cell's sampler reads (``Sampler.reads_config``)."""
    from ..samplers import SAMPLERS

    name = d.get("sampler", {}).get("name")
    if name not in SAMPLERS:
        return []  # an unknown name fails in check_fair, with the known ones
    return [tuple(p.split(".")) for p in getattr(SAMPLERS.get(name), "reads_config", ())]


def _field(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return _MISSING
        d = d[key]
    return d


def slug(method: str) -> str:
    """A method's folder name: letters, digits, ``.``, ``_``, ``-`` (``PA&DA`` -> ``PADA``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "", method.replace(" ", "_"))
    if not name:
        raise ConfigError(f"method name {method!r} has no letters or digits; rename it")
    return name


def load_study(path: str | Path, overrides: list[str] = (),
               baseline: str | None = None) -> StudyConfig:
    """Read a study TOML; a relative ``preset`` path is taken from the study's folder.

    ``baseline`` replaces the file's: the same cells, tested against another method (the
    report of a finished study is redone with ``--report-only``, nothing trains again).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study config {str(path)!r} not found; give a study TOML file "
                          "(examples: benchmarks/studies/*.toml)")
    try:
        values = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"study config {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(values) - _STUDY_KEYS)
    if unknown:
        raise ConfigError(f"unknown study key(s) {unknown} in {path}; valid: {sorted(_STUDY_KEYS)}")
    if "preset" not in values or "methods" not in values:
        raise ConfigError(f"{path} needs a preset = \"...\" and [methods.NAME] tables")
    if baseline is not None:
        values["baseline"] = baseline
    preset = values.pop("preset")
    if Path(preset).suffix and not Path(preset).is_absolute():
        preset = str(path.parent / preset)
    elif not Path(preset).suffix and not (PRESET_DIR / f"{preset}.toml").is_file():
        load_config(preset)  # raises the list of presets
    return StudyConfig(preset=preset, overrides=list(overrides), **values)


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``layer``'s values laid over it, tables merged key by key."""
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
