"""Sharing mechanisms: how the choices of one decision hold their weights.

Registered by name so that a supernet is ``skeleton x mechanism``; a new
mechanism (e.g. weight entanglement) is one more entry, not a flag.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from ..errors import SpaceError
from ..registry import Registry
from .base import Edge

ChoiceFactory = Callable[[], nn.Module]
EdgeBuilder = Callable[[Mapping[str, ChoiceFactory]], Edge]

SHARING: Registry[Edge] = Registry("sharing mechanism")


def check_choice_names(names: Iterable[str]) -> None:
    """Raise :class:`SpaceError` for choice names ``nn.ModuleDict`` cannot hold as keys."""
    probe = nn.ModuleDict()
    for name in names:
        problem = ("is not a string" if not isinstance(name, str) else "is empty" if not name
                   else "contains '.'" if "." in name
                   else "is an nn.ModuleDict attribute" if hasattr(probe, name) else None)
        if problem:
            raise SpaceError(f"choice name {name!r} {problem}, so PyTorch cannot hold it as a "
                             "module key; rename the choice (e.g. 'conv3x3' instead of "
                             "'conv.3x3', 'op_keys' instead of 'keys')")


@dataclass(frozen=True)
class SlicedChoice:
    """A choice that can be a slice of a super-op shared by its ``group``.

    Called, it builds the choice alone (what weight sharing and stand-alone nets use).
    Entanglement instead calls ``super_op(configs)`` once per group with every member's
    ``config``; the super-op has ``forward(x, **config)``,
    ``forward_mixture(x, configs, weights)`` and ``extract(**config)``.
    """

    group: str
    config: Mapping[str, Any]
    standalone: ChoiceFactory
    super_op: Callable[[Sequence[Mapping[str, Any]]], nn.Module] = field(compare=False)

    def __call__(self) -> nn.Module:
        return self.standalone()


class ChoiceEdge(Edge):
    """Weight sharing: one module instance per choice; a forward uses one of them."""

    def __init__(self, choices: Mapping[str, ChoiceFactory]) -> None:
        super().__init__()
        check_choice_names(choices)
        self.choices = nn.ModuleDict({name: make() for name, make in choices.items()})

    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        return self.choices[choice](x)

    def module_for(self, choice: str) -> nn.Module | None:
        return self.choices[choice] if choice in self.choices else None

    def extract(self, choice: str) -> nn.Module:
        return copy.deepcopy(self.choices[choice])


@SHARING.register("weight_sharing")
def weight_sharing(choices: Mapping[str, ChoiceFactory]) -> Edge:
    return ChoiceEdge(choices)
