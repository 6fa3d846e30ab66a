"""Sharing mechanisms: how the choices of one decision hold their weights.

Registered by name so that a supernet is ``skeleton x mechanism``; a new
mechanism (e.g. weight entanglement) is one more entry, not a flag.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

from ..registry import Registry

ChoiceFactory = Callable[[], nn.Module]
EdgeBuilder = Callable[[Mapping[str, ChoiceFactory]], nn.Module]

SHARING: Registry[nn.Module] = Registry("sharing mechanism")


class ChoiceEdge(nn.Module):
    """Weight sharing: one module instance per choice; a forward uses one of them."""

    def __init__(self, choices: Mapping[str, ChoiceFactory]) -> None:
        super().__init__()
        self.choices = nn.ModuleDict({name: make() for name, make in choices.items()})

    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        return self.choices[choice](x)


@SHARING.register("weight_sharing")
def weight_sharing(choices: Mapping[str, ChoiceFactory]) -> nn.Module:
    return ChoiceEdge(choices)
