"""Sharing mechanisms: how the choices of one decision hold their weights.

Registered by name so that a supernet is ``skeleton x mechanism``; a new
mechanism (e.g. weight entanglement) is one more entry, not a flag.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from ..errors import SpaceError
from ..registry import Registry

ChoiceFactory = Callable[[], nn.Module]
EdgeBuilder = Callable[[Mapping[str, ChoiceFactory]], nn.Module]

SHARING: Registry[nn.Module] = Registry("sharing mechanism")


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


class ChoiceEdge(nn.Module):
    """Weight sharing: one module instance per choice; a forward uses one of them."""

    def __init__(self, choices: Mapping[str, ChoiceFactory]) -> None:
        super().__init__()
        check_choice_names(choices)
        self.choices = nn.ModuleDict({name: make() for name, make in choices.items()})

    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        return self.choices[choice](x)


@SHARING.register("weight_sharing")
def weight_sharing(choices: Mapping[str, ChoiceFactory]) -> nn.Module:
    return ChoiceEdge(choices)
