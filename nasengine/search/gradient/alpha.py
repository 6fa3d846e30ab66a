"""Architecture parameters: one logit vector alpha per decision, and their relaxations.

A relaxation turns alpha into mixing weights for :meth:`MixtureSupernet.forward_mixture`;
it is a registered plugin (``softmax`` as in DARTS, ``gumbel`` as in GDAS/SNAS), so a
new one is one more entry, not a flag.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import Registry
from ...space import Sample, SearchSpace

Relaxation = Callable[[torch.Tensor, float], torch.Tensor]
"""(alpha, temperature) -> mixing weights over the decision's choices (sum to 1)."""

RELAXATIONS: Registry[torch.Tensor] = Registry("relaxation")


@RELAXATIONS.register("softmax")
def softmax(alpha: torch.Tensor, temperature: float) -> torch.Tensor:
    return F.softmax(alpha / temperature, dim=-1)


@RELAXATIONS.register("gumbel")
def gumbel(alpha: torch.Tensor, temperature: float) -> torch.Tensor:
    """A Gumbel-softmax draw: a noisy, nearly one-hot mixture at low temperature."""
    return F.gumbel_softmax(alpha, tau=temperature, hard=False, dim=-1)


class ArchParameters(nn.Module):
    """alpha per decision of ``space``, initialised near zero (uniform mixture) as in DARTS."""

    def __init__(self, space: SearchSpace, init_std: float = 1e-3, seed: int = 0) -> None:
        super().__init__()
        self.space = space
        gen = torch.Generator().manual_seed(seed)
        # a ParameterList, because decision labels may contain '.', which ParameterDict forbids
        self.alphas = nn.ParameterList(
            nn.Parameter(init_std * torch.randn(len(d.values), generator=gen))
            for d in space.decisions.values())

    def weights(self, relaxation: str = "softmax", temperature: float = 1.0
                ) -> dict[str, torch.Tensor]:
        """Mixing weights per decision label (differentiable in alpha)."""
        relax = RELAXATIONS.get(relaxation)
        return {label: relax(alpha, temperature)
                for label, alpha in zip(self.space.labels, self.alphas)}

    @torch.no_grad()
    def probabilities(self) -> dict[str, list[float]]:
        """softmax(alpha) per decision, as plain floats (what the trajectory log records)."""
        return {label: F.softmax(alpha, dim=-1).tolist()
                for label, alpha in zip(self.space.labels, self.alphas)}

    @torch.no_grad()
    def discretize(self) -> Sample:
        """The final architecture: the argmax choice of every decision."""
        return {label: dec.values[int(alpha.argmax())]
                for (label, dec), alpha in zip(self.space.decisions.items(), self.alphas)}
