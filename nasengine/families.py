"""Search-space families: a space plus how to build its networks.

A family is the plugin a user writes to bring a new space. It reaches the engine
in one of three ways, and the CLI, trainer and evaluator then work with it unchanged:

* registered in :data:`SPACES` under a name (``@SPACES.register("name")``);
* an entry point in the group ``nasengine.spaces`` of an installed package
  (``name = "pkg.module:Factory"``), discovered at start-up;
* a ``"pkg.module:Factory"`` string as ``supernet.space`` in a config or on the CLI.

``Factory`` is a :class:`SpaceFamily` (class or instance), a callable returning one,
or a plain ``nn.Module`` class declared with :mod:`nasengine.builder` choices.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
import warnings
from abc import ABC, abstractmethod
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Mapping

from torch import nn

from .errors import ConfigError, SpaceError
from .registry import Registry
from .space import Sample, SearchSpace
from .supernet.base import Supernet
from .supernet.sharing import SHARING

if TYPE_CHECKING:  # pragma: no cover
    from .benchmark.truth import GroundTruth
    from .config import EvalConfig, SupernetConfig

ENTRY_POINT_GROUP = "nasengine.spaces"
RUN_OPTIONS = ("channels", "cells", "num_classes")  # supernet.* fields a family may take


class SpaceFamily(ABC):
    """A search space with its supernet skeleton, standalone nets and complexity."""

    name: str = "space"

    @abstractmethod
    def space(self) -> SearchSpace:
        """The (unrestricted) space of architectures."""

    @abstractmethod
    def supernet(self, sharing: Any, space: SearchSpace | None = None, **config: Any) -> Supernet:
        """A supernet over ``space`` whose decisions share weights via ``sharing``."""

    @abstractmethod
    def standalone(self, arch: Sample, **config: Any) -> nn.Module:
        """The stand-alone network of ``arch`` (what the ground truth trained)."""

    def complexity(self, arch: Sample, **config: Any) -> dict[str, float]:
        """Params and FLOPs of the stand-alone network (override if analytic)."""
        from .complexity import count_complexity

        return count_complexity(self.standalone(arch, **config), self.input_shape(**config))

    def canonical(self, arch: Sample) -> Sample:
        """An arch whose stand-alone network, initialised module by module from the same
        seed, computes the same function (default: ``arch``). Dead parts of a network
        (ops fed only zeros, or feeding nothing) make such classes; proxies that read only
        the function are computed once per class."""
        return arch

    def input_shape(self, **config: Any) -> tuple[int, ...]:
        return (1, 3, 32, 32)

    def ground_truth(self, evaluate: EvalConfig) -> GroundTruth | None:
        """What rankings of this space are compared with; None: no ground truth.

        The default reads ``evaluate.oracle``, when given, as a generic CSV keyed by
        :meth:`SearchSpace.format` (see :class:`~nasengine.benchmark.CSVBenchmark`).
        """
        from .benchmark.truth import csv_ground_truth

        return csv_ground_truth(evaluate) if evaluate.oracle else None

    def options(self) -> set[str] | None:
        """Keyword options :meth:`supernet` takes (None: any, it has ``**kwargs``)."""
        params = inspect.signature(self.supernet).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params} - {"sharing", "space"}

    def check_options(self, config: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` for options this family's networks do not take."""
        known = self.options()
        unknown = [] if known is None else sorted(set(config) - known)
        if unknown:
            raise ConfigError(f"search space {self.name!r} does not take option(s) {unknown}; "
                              f"its networks take {sorted(known)}")

    def run_options(self, supernet: SupernetConfig) -> dict[str, Any]:
        """The run's ``supernet.*`` values this family takes; warns about ignored changes."""
        known = self.options()
        taken, ignored = {}, []
        for f in fields(supernet):
            if f.name not in RUN_OPTIONS:
                continue
            value = getattr(supernet, f.name)
            if known is None or f.name in known:
                taken[f.name] = value
            elif value != f.default:
                ignored.append(f"supernet.{f.name}={value!r}")
        if ignored:
            warnings.warn(f"search space {self.name!r} ignores {', '.join(ignored)} (its networks "
                          f"take {sorted(known or ())})", stacklevel=2)
        return taken

    def build_supernet(self, sharing: str = "weight_sharing", **config: Any) -> Supernet:
        """The supernet under the sharing mechanism ``sharing``, checked against its contract."""
        self.check_options(config)
        mechanism = SHARING.get(sharing)
        supernet = self.supernet(mechanism, **config)
        check = getattr(mechanism, "check", None)
        if check is not None:
            check(supernet, self.name)
        return supernet


SPACES: Registry[SpaceFamily] = Registry("search space")


def get_family(name: str) -> SpaceFamily:
    """The family ``name``: registered, from an entry point, or a ``module:Factory`` path."""
    _discover()
    if name in SPACES:
        return SPACES.create(name)
    if ":" in name:
        return as_family(_import(name), name)
    known = ", ".join(SPACES.names()) or "(none)"
    raise ConfigError(f"unknown search space {name!r}; known: {known}. Register yours in one of "
                      f"three ways: decorate its family with @nasengine.families.SPACES.register"
                      f"({name!r}); declare an entry point '{name} = pkg.module:Factory' in the "
                      f"group {ENTRY_POINT_GROUP!r} of an installed package; or give "
                      f"supernet.space=\"pkg.module:Factory\" directly")


def as_family(obj: Any, where: str) -> SpaceFamily:
    """A family from a plugin's object: a family, its class, a builder module or a factory."""
    if isinstance(obj, SpaceFamily):
        return obj
    if inspect.isclass(obj) and issubclass(obj, SpaceFamily):
        return obj()
    if inspect.isclass(obj) and issubclass(obj, nn.Module):
        from .builder import BuilderFamily
        from .builder.nni import NNIFamily, is_nni_space

        if is_nni_space(obj):
            return NNIFamily(obj, name=where)

        return BuilderFamily(obj, name=where)
    if callable(obj) and not inspect.isclass(obj):
        made = obj()
        if isinstance(made, SpaceFamily):
            return made
        obj = made
    raise ConfigError(f"{where} gives a {type(obj).__name__}, not a search space; point it at a "
                      "SpaceFamily (class or instance), a function returning one, or an nn.Module "
                      "class declared with nasengine.builder choices")


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = _import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for search space {path!r} ({exc}); "
                          "install it or put its folder on PYTHONPATH") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{module_name!r} has no {attr!r} (search space {path!r}); "
                              "name a class or function defined there")
        obj = getattr(obj, part)
    return obj


def _import_module(name: str) -> Any:
    """Import ``name``; like ``python -m``, a module in the current directory is found too."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if exc.name != name.split(".")[0] or cwd in sys.path:
            raise
        sys.path.append(cwd)
        return importlib.import_module(name)


_DISCOVERED = False


def _discover() -> None:
    """Register the bundled families and every ``nasengine.spaces`` entry point, once."""
    global _DISCOVERED
    import search_spaces  # noqa: F401  (registers the bundled families)

    if _DISCOVERED:
        return
    _DISCOVERED = True
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name not in SPACES:
            SPACES.register(point.name)(lambda point=point: _load_entry_point(point))


def _load_entry_point(point: Any) -> SpaceFamily:
    try:
        obj = point.load()
    except Exception as exc:  # a broken plugin must name itself, not break the engine
        dist = getattr(getattr(point, "dist", None), "name", "?")
        raise ConfigError(f"search space {point.name!r} (entry point {point.value!r} of package "
                          f"{dist!r}) failed to load: {type(exc).__name__}: {exc}") from exc
    return as_family(obj, f"entry point {point.name} = {point.value}")


def space_names() -> list[str]:
    """Every known space name (bundled, registered and from entry points)."""
    _discover()
    return SPACES.names()


def arch_info(arch: Mapping[str, Any], family: SpaceFamily, **config: Any) -> dict[str, Any]:
    """What ``nasengine info --arch`` prints: the arch's string, id, the space's size and
    the stand-alone network's complexity (params, FLOPs) at ``config``."""
    space = family.space()
    sample = space.validate(arch)
    return {"arch": space.format(sample), "id": space.encode(sample), "size": len(space),
            **family.complexity(sample, **config)}
