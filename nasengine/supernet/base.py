"""The supernet role: one module holding the weights of every subnet of a space.

A supernet is a *skeleton* (from the search-space family) composed with a
*sharing mechanism* (how the choices of one decision hold weights). Samplers,
trainers and evaluators only see this interface.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Mapping

import torch
from torch import nn

from ..space import Sample, SearchSpace


class Supernet(nn.Module, ABC):
    """``forward(x, arch)`` runs the subnet ``arch`` on its inherited weights."""

    space: SearchSpace

    @abstractmethod
    def forward(self, x: torch.Tensor, arch: Mapping[str, object]) -> torch.Tensor:
        """Logits of subnet ``arch`` (a sample of :attr:`space`)."""

    def canonical(self, arch: Mapping[str, object]) -> Sample:
        """An arch computing exactly the same function as ``arch`` in this supernet.

        Archs with equal canonical forms share one evaluation. The default is
        ``arch`` itself; a supernet overrides it only with a proven equivalence.
        """
        return dict(arch)

    def choice_modules(self, arch: Sample) -> dict[str, list[nn.Module]]:
        """Modules trained by ``arch``, keyed by choice value (e.g. op name).

        Samplers that learn from per-choice gradients (PA&DA) read gradients here.
        """
        return {}


def has_choice_modules(supernet: Supernet) -> bool:
    """Whether ``choice_modules`` names a module for some choice of some decision."""
    space = supernet.space
    base = {label: d.values[0] for label, d in space.decisions.items()}
    return any(supernet.choice_modules({**base, label: v})
               for label, d in space.decisions.items() for v in d.values)
