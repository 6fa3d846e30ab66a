"""AZ-NAS's three training-free views of a network (Lee & Ham, CVPR 2024).

All three read the block features of one forward (the stem output, then every block's):

* ``expressivity``: Σ over features of the entropy of the normalised eigenvalues of the
  channel covariance (isotropic features spread information over every channel);
* ``progressivity``: the smallest increase of that entropy from one feature to the next;
* ``trainability``: mean over consecutive blocks of 2 - σ - 1/σ, σ the largest singular
  value of the block's Jacobian estimated from one random ±1 back-projection (best at 1).

AZ-NAS ranks by Σ log(rank) of these and FLOPs: the default ``ensemble``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .base import PROXIES, ArchProxy, Probe


def expressivity_per_feature(probe: Probe) -> np.ndarray:
    """Eigenvalue entropy of each block feature's channel covariance (NaN for a constant);
    computed once per probe, as expressivity and progressivity both read it."""
    return probe.shared("aznas.entropies", _entropies)


def _entropies(probe: Probe) -> np.ndarray:
    out = []
    for feat in probe.forward.features:
        # one pixel per row, centred in place (the same values as f - mean, 4x faster)
        f = feat.detach().permute(0, 2, 3, 1).reshape(-1, feat.shape[1]).double()
        f.sub_(f.mean(0, keepdim=True))
        eig = torch.linalg.eigvalsh(f.T @ f / len(f))
        p = eig / eig.sum()
        out.append(float((-p * torch.log(p + 1e-8)).sum()))
    return np.asarray(out, dtype=np.float64)


def _finite(value: float) -> float:
    return -math.inf if math.isnan(value) else float(value)


@PROXIES.register("expressivity")
class Expressivity(ArchProxy):
    name = "expressivity"

    def score(self, probe: Probe) -> float:
        return _finite(float(np.sum(expressivity_per_feature(probe))))


@PROXIES.register("progressivity")
class Progressivity(ArchProxy):
    name = "progressivity"

    def score(self, probe: Probe) -> float:
        scores = expressivity_per_feature(probe)
        if len(scores) < 2:
            return -math.inf
        return _finite(float(np.min(np.diff(scores))))


@PROXIES.register("trainability")
class Trainability(ArchProxy):
    name = "trainability"
    # v2: the ±1 back-projections are laid out as the features (channels_last), 2-5x faster
    # batch-norm backwards; the same draws, values within ~1e-8 relative of v1's
    version = 2

    def score(self, probe: Probe) -> float:
        feats = probe.forward.features
        gen = probe.generator("trainability")
        scores = [_block_score(feats[i - 1], feats[i], gen) for i in reversed(range(1, len(feats)))]
        return _finite(float(np.mean(scores))) if scores else -math.inf


def _block_score(f_in: torch.Tensor, f_out: torch.Tensor, gen: torch.Generator) -> float:
    """2 - σ - 1/σ of one block; -inf for a block that passes gradients unchanged."""
    g_out = (torch.randint(0, 2, f_out.shape, generator=gen, dtype=torch.float32) * 2 - 1)
    g_out = g_out.to(device=f_out.device, dtype=f_out.dtype,
                     memory_format=torch.channels_last if _is_channels_last(f_out)
                     else torch.contiguous_format)
    g_in = None
    if f_out.requires_grad and f_in.requires_grad:
        (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
    g_in = torch.zeros_like(f_in) if g_in is None else g_in
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = nn.functional.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    b, c_out, h, w = g_out.shape
    g_out = g_out.permute(0, 2, 3, 1).reshape(-1, c_out).double()
    g_in = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1]).double()
    sigma = float(torch.linalg.svdvals(g_in.T @ g_out / (b * h * w)).max())
    return -sigma - 1.0 / (sigma + 1e-6) + 2.0


def _is_channels_last(t: torch.Tensor) -> bool:
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
