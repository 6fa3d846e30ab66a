"""Choices and values derived from them: what a builder layer's arguments may be.

A :class:`Choice` is one decision of the space (a label and its values); ``choice.map(f)``
or :func:`derive` makes a value computed from choices (e.g. a width from a multiplier).
Layers resolve them against the arch being run (``resolve(value, arch)``).
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..errors import SpaceError
from ..space import Categorical


class Value:
    """Something whose concrete value depends on the arch."""

    def choices(self) -> tuple[Choice, ...]:
        raise NotImplementedError

    def resolve(self, arch: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def map(self, fn: Callable[[Any], Any]) -> Derived:
        """A value computed from this one, e.g. ``Choice("w", (0.5, 1)).map(lambda m: int(16 * m))``."""
        return Derived(fn, self)


class Choice(Value):
    """One decision: ``label`` picks one of ``values`` (the ``nni.choice`` of the builder).

    The same label used twice must mean the same decision (same values): then every layer
    using it follows one pick. Labels are free text (dots allowed); they are never module names.
    """

    def __init__(self, label: str, values: Sequence[Any]) -> None:
        if not isinstance(label, str) or not label:
            raise SpaceError(f"a choice needs a non-empty string label, got {label!r}")
        self.decision = Categorical(label, tuple(values))  # refuses empty or repeated values
        self.label, self.values = label, self.decision.values

    def __repr__(self) -> str:
        return f"Choice({self.label!r}, {list(self.values)})"

    def choices(self) -> tuple[Choice, ...]:
        return (self,)

    def resolve(self, arch: Mapping[str, Any]) -> Any:
        try:
            return arch[self.label]
        except KeyError:
            raise SpaceError(f"the arch has no decision {self.label!r}; give every decision of "
                             "the space (the supernet runs as net(x, arch))") from None


class Derived(Value):
    """``fn(*inputs)`` with the inputs resolved: a value that follows one or more choices."""

    def __init__(self, fn: Callable[..., Any], *inputs: Any) -> None:
        self.fn, self.inputs = fn, inputs

    def choices(self) -> tuple[Choice, ...]:
        return tuple(dict.fromkeys(c for v in self.inputs for c in choices_of(v)))

    def resolve(self, arch: Mapping[str, Any]) -> Any:
        return self.fn(*(resolve(v, arch) for v in self.inputs))


def derive(fn: Callable[..., Any], *inputs: Any) -> Derived:
    """A value computed from several choices, e.g. ``derive(lambda m, e: int(m * e), w, e)``."""
    return Derived(fn, *inputs)


def resolve(value: Any, arch: Mapping[str, Any]) -> Any:
    return value.resolve(arch) if isinstance(value, Value) else value


def choices_of(*values: Any) -> tuple[Choice, ...]:
    """The distinct choices the values depend on, in order of first use."""
    return tuple(dict.fromkeys(c for v in values if isinstance(v, Value) for c in v.choices()))


def combinations(values: Iterable[Any]) -> list[dict[str, Any]]:
    """Every assignment of the choices behind ``values`` (one empty one if there are none)."""
    deps = choices_of(*values)
    return [dict(zip((c.label for c in deps), picks))
            for picks in itertools.product(*(c.values for c in deps))]


def possible(value: Any) -> list[Any]:
    """Every value ``value`` can resolve to, first-seen order."""
    return list(dict.fromkeys(resolve(value, arch) for arch in combinations([value])))
