"""Search-space families: a space plus how to build its networks.

A family is the plugin a user writes to bring a new space: it registers under a
name in :data:`SPACES` and the CLI, trainer and evaluator work with it unchanged.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping

from torch import nn

from .registry import Registry
from .space import Sample, SearchSpace
from .supernet.base import Supernet
from .supernet.sharing import SHARING


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

    def build_supernet(self, sharing: str = "weight_sharing", **config: Any) -> Supernet:
        return self.supernet(SHARING.get(sharing), **config)


SPACES: Registry[SpaceFamily] = Registry("search space")


def get_family(name: str) -> SpaceFamily:
    """The registered family ``name`` (importing the bundled ``search_spaces``)."""
    import search_spaces  # noqa: F401  (registers the bundled families)

    return SPACES.create(name)


def describe(arch: Mapping[str, Any], family: SpaceFamily, **config: Any) -> dict[str, Any]:
    space = family.space()
    sample = space.validate(arch)
    return {"arch": space.format(sample), "id": space.encode(sample), "size": len(space),
            **family.complexity(sample, **config)}
