"""How builder layers know what to build and which arch they run.

The engine builds the user's module inside :func:`building`: in *supernet* mode every
layer holds all its choices under a sharing mechanism; in *fixed* mode (one arch) each
layer is replaced by the plain PyTorch module of that arch (like ``nni``'s ``fixed_arch``).
Every choice a layer uses is recorded, in order, which is how the space is derived.
At run time the supernet sets the arch with :func:`running`.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from ..errors import SpaceError
from .values import Choice, choices_of


@dataclass
class Build:
    """One construction: supernet (``sharing`` set) or fixed (``arch`` set)."""

    sharing: Callable[..., Any] | None = None
    arch: Mapping[str, Any] | None = None
    choices: dict[str, Choice] = field(default_factory=dict)

    def use(self, *values: Any) -> None:
        """Record the choices behind ``values``; one label must always mean one decision."""
        for choice in choices_of(*values):
            known = self.choices.setdefault(choice.label, choice)
            if known is not choice and known.values != choice.values:
                raise SpaceError(f"duplicate label {choice.label!r}: used for choices "
                                 f"{list(known.values)} and {list(choice.values)}; give each "
                                 "decision its own label (or reuse one Choice object)")


_BUILD: ContextVar[Build | None] = ContextVar("nasengine_build", default=None)
_ARCH: ContextVar[Mapping[str, Any] | None] = ContextVar("nasengine_arch", default=None)
_CHECKING: ContextVar[bool] = ContextVar("nasengine_checking", default=False)


@contextlib.contextmanager
def building(build: Build) -> Iterator[Build]:
    token = _BUILD.set(build)
    try:
        yield build
    finally:
        _BUILD.reset(token)


def current_build() -> Build:
    """The construction in progress; outside the engine, a weight-sharing supernet."""
    build = _BUILD.get()
    if build is None:
        from ..supernet.sharing import SHARING

        build = Build(sharing=SHARING.get("weight_sharing"))
    return build


@contextlib.contextmanager
def running(arch: Mapping[str, Any], checking: bool = False) -> Iterator[None]:
    tokens = _ARCH.set(arch), _CHECKING.set(checking)
    try:
        yield
    finally:
        _ARCH.reset(tokens[0])
        _CHECKING.reset(tokens[1])


def current_arch() -> Mapping[str, Any]:
    arch = _ARCH.get()
    if arch is None:
        raise SpaceError("a builder layer ran without an arch; run the supernet as net(x, arch) "
                         "(nasengine.builder.BuiltSupernet), or build a fixed network of one arch")
    return arch


def checking() -> bool:
    """True during the build-time dummy forward that compares candidates' output shapes."""
    return _CHECKING.get()
