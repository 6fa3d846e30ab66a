"""Name → factory registries, the plugin mechanism (timm-style).

Spaces, samplers, supernet kinds and BN protocols register under a name; the
config refers to them by that name; an unknown name lists the known ones.
"""
from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Mapping
from typing import Any, Callable, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories with lazy construction."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` under ``name`` (warns on overwrite)."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name] is not factory:
                warnings.warn(f"{self.kind} {name!r} registered twice; the later one wins",
                              stacklevel=2)
            self._entries[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, /, options: Mapping[str, Any] | None = None,
               **context: Any) -> T:
        """Build ``name`` from the engine's ``context`` arguments and the user's ``options``.

        Options are checked against the factory's signature first (names and annotated
        types), so a bad one is one :class:`ConfigError` listing the accepted options.
        """
        from .validation import check_options

        factory, options = self.get(name), dict(options or {})
        check_options(self.kind, name, factory, options, context)
        return factory(**context, **options)

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries
