"""One validation layer: the type and range of every config field and plugin option.

Types come from annotations (the config dataclasses', and each registered factory's
signature), ranges from :data:`RULES`; every failure is one :class:`ConfigError` line
that names the field, the value and what is allowed, which the CLI turns into exit 2.
"""
from __future__ import annotations

import collections.abc
import inspect
import math
import os
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError


def invalid(where: str, value: Any, allowed: str) -> ConfigError:
    """The project's one error style for a bad value."""
    return ConfigError(f"{where} = {value!r} is not allowed; expected {allowed}")


# -- types ----------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


_SIMPLE: dict[Any, tuple[Callable[[Any], bool], str]] = {
    int: (_is_int, "an integer"),
    float: (_is_number, "a finite number"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    str: (lambda v: isinstance(v, str), "a string"),
    type(None): (lambda v: v is None, "unset"),
}


_SEQUENCES = (list, tuple, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping)


def describe_type(annotation: Any) -> str | None:
    """Words for what ``annotation`` accepts, or None when it is not checked (Any, objects)."""
    if annotation in _SIMPLE:
        return _SIMPLE[annotation][1]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        words = [describe_type(a) for a in args]
        return None if None in words else " or ".join(words)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in _SEQUENCES:
        inner = describe_type(args[0]) if args else None
        return f"a list of {_plural(inner)}" if inner else "a list"
    if origin in _MAPPINGS or annotation is dict:
        return "a table"
    return None


def matches(value: Any, annotation: Any) -> bool:
    """Whether ``value`` (as TOML or JSON gives it) fits ``annotation``; unknown types fit."""
    if annotation in _SIMPLE:
        return _SIMPLE[annotation][0](value)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return describe_type(annotation) is None or any(matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin in _SEQUENCES:
        if not isinstance(value, (list, tuple)):
            return False
        return origin is tuple or not args or all(matches(v, args[0]) for v in value)
    if origin in _MAPPINGS or annotation is dict:
        return isinstance(value, dict)
    return True


def check_type(where: str, value: Any, annotation: Any) -> None:
    if not matches(value, annotation):
        raise invalid(where, value, describe_type(annotation) or str(annotation))


def _plural(words: str) -> str:
    return {"an integer": "integers", "a string": "strings", "a finite number": "numbers",
            "true or false": "booleans"}.get(words, words)


# -- ranges ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A range check: ``ok(value)``, and ``allowed`` says what passes (for the error)."""

    allowed: str
    ok: Callable[[Any], bool]


def at_least(low: float) -> Rule:
    return Rule(f"a value >= {low}", lambda v: v is None or v >= low)


def above(low: float) -> Rule:
    return Rule(f"a value > {low}", lambda v: v is None or v > low)


def between(low: float, high: float, closed: bool = True) -> Rule:
    upper = "]" if closed else ")"
    return Rule(f"a value in [{low}, {high}{upper}",
                lambda v: low <= v <= high if closed else low <= v < high)


def one_of(*choices: Any) -> Rule:
    return Rule("one of " + ", ".join(repr(c) for c in choices), lambda v: v in choices)


def _is_device(name: str) -> bool:
    import torch

    if name == "auto":
        return True
    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        return False
    return True


RULES: dict[str, Rule] = {
    "supernet.channels": at_least(1), "supernet.cells": at_least(1),
    "supernet.num_classes": at_least(2),
    "data.train_limit": at_least(0),  # 0 or unset: the whole split
    "data.valid_images": at_least(0),
    "train.epochs": at_least(1), "train.batch_size": at_least(1), "train.lr": above(0),
    "train.lr_min": at_least(0), "train.momentum": between(0, 1, closed=False),
    "train.weight_decay": at_least(0), "train.grad_clip": at_least(0),  # 0: no clipping
    "train.data_parallel": at_least(1),
    "evaluate.archs": one_of("random", "all"), "evaluate.n_archs": at_least(1),
    "evaluate.recal_batches": at_least(1), "evaluate.recal_batch_size": at_least(1),
    "evaluate.eval_images": at_least(0),  # 0: the whole test split
    "evaluate.batch_size": at_least(1), "evaluate.bootstrap": at_least(0),
    "evaluate.workers": at_least(1), "evaluate.track_every": at_least(0),  # 0: off
    "evaluate.track_archs": at_least(3),  # fewer cannot be ranked
    "fewshot.warmup_epochs": at_least(1), "fewshot.split_every": at_least(1),
    "fewshot.splits": at_least(1),
    "proxies.shortlist": Rule("a share in (0, 1], e.g. 0.1", lambda v: 0 < v <= 1),
    "seed": at_least(0), "threads": at_least(1),
    "device": Rule("auto, cpu, cuda or cuda:N", lambda v: isinstance(v, str) and _is_device(v)),
}


def check_rule(where: str, value: Any, rule: Rule | None) -> None:
    if rule is not None and value is not None and not rule.ok(value):
        raise invalid(where, value, rule.allowed)


def check_folder(where: str, path: Path) -> Path:
    """``path`` is, or can become, a writable folder (checked before any work starts)."""
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        blocker = "is a file" if existing == path else f"lies under the file {existing}"
        raise ConfigError(f"{where} {path} {blocker}; give a folder path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{where} {path}: {existing} is not writable; choose another folder")
    return path


# -- config dataclasses ---------------------------------------------------------------
def validate_config(config: Any, prefix: str = "") -> None:
    """Check every field of a config dataclass tree (types, then :data:`RULES`, then pairs)."""
    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        where, value = f"{prefix}{f.name}", getattr(config, f.name)
        if is_dataclass(value):
            validate_config(value, f"{where}.")
            continue
        check_type(where, value, hints[f.name])
        check_rule(where, value, RULES.get(where))
    if not prefix:
        _check_pairs(config)


def _check_pairs(config: Any) -> None:
    """Fields that are only wrong together."""
    tc = config.train
    if tc.lr_min > tc.lr:
        raise ConfigError(f"train.lr_min = {tc.lr_min!r} is above train.lr = {tc.lr!r}; the "
                          f"cosine schedule decays from lr down to lr_min, so lower lr_min")
    if tc.nesterov and tc.momentum == 0:
        raise ConfigError("train.nesterov = true needs train.momentum > 0; set a momentum "
                          "or train.nesterov = false")
    if tc.sync_bn and tc.data_parallel < 2:
        raise ConfigError("train.sync_bn = true needs train.data_parallel >= 2 (the torchrun "
                          "processes whose BN statistics it gathers); with 1, BN already sees "
                          "the whole batch, so set train.sync_bn = false")


def warn_if(condition: bool, message: str) -> None:
    """An explicit warning for a value that is used, but not as written."""
    if condition:
        warnings.warn(message, UserWarning, stacklevel=3)


# -- plugin options -------------------------------------------------------------------
def check_options(kind: str, name: str, factory: Callable[..., Any],
                  options: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    """``options`` (the user's) must be parameters of ``factory`` not set by the engine
    (``context``), of the annotated type; the error lists what the factory accepts."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
    accepted = [n for n, p in params.items() if n not in context
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key, value in options.items():
        where = f"{kind} {name!r} option {key}"
        if key in context:
            raise ConfigError(f"{where} is set by nasengine itself, not an option; "
                              f"{_accepts(accepted)}")
        if key not in accepted and not open_ended:
            raise ConfigError(f"{kind} {name!r} has no option {key!r}; {_accepts(accepted)}")
        if key in accepted:
            check_type(where, value, _hints(factory).get(key, Any))


def _accepts(accepted: list[str]) -> str:
    return f"it accepts: {', '.join(accepted)}" if accepted else "it takes no options"


def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # annotations naming what only type checkers import: skip types
        return {}
