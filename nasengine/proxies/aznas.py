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

import functools
import math

import numpy as np
import torch
from torch import nn

from .base import PROXIES, ArchProxy, Probe, seeded_generator


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
        blocks = list(reversed(range(1, len(feats))))
        draws = back_projections(probe.seed, tuple(_layout(feats[i]) for i in blocks))
        scores = [_block_score(feats[i - 1], feats[i], *g) for i, g in zip(blocks, draws)]
        return _finite(float(np.mean(scores))) if scores else -math.inf


Layout = tuple[torch.Size, torch.dtype, torch.device, bool]


def _layout(t: torch.Tensor) -> Layout:
    return t.shape, t.dtype, t.device, _is_channels_last(t)


@functools.lru_cache(maxsize=2)
def back_projections(seed: int | None, layouts: tuple[Layout, ...]
                     ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The random ±1 back-projection of each block, drawn in turn from the seed's
    generator, as a tensor laid out like the block's output and as a float64 pixels x
    channels matrix. They depend only on the seed and the blocks' shapes, which all of a
    space's archs share (NB201's), so a process draws them once; never modify them."""
    gen = seeded_generator(seed, "trainability")
    out = []
    for shape, dtype, device, channels_last in layouts:
        g_out = torch.randint(0, 2, shape, generator=gen, dtype=torch.float32) * 2 - 1
        g_out = g_out.to(device=device, dtype=dtype, memory_format=torch.channels_last
                         if channels_last else torch.contiguous_format)
        out.append((g_out, g_out.permute(0, 2, 3, 1).reshape(-1, shape[1]).double()))
    return out


def _block_score(f_in: torch.Tensor, f_out: torch.Tensor, g_out: torch.Tensor,
                 g_matrix: torch.Tensor) -> float:
    """2 - σ - 1/σ of one block; -inf for a block that passes gradients unchanged."""
    g_in = None
    if f_out.requires_grad and f_in.requires_grad:
        (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
    g_in = torch.zeros_like(f_in) if g_in is None else g_in
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf
    if g_in.shape[2:] != g_out.shape[2:]:
        g_in = nn.functional.pixel_unshuffle(g_in, g_in.shape[2] // g_out.shape[2])
    b, _, h, w = g_out.shape
    g_in = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1]).double()
    sigma = float(torch.linalg.svdvals(g_in.T @ g_matrix / (b * h * w)).max())
    return -sigma - 1.0 / (sigma + 1e-6) + 2.0


def _is_channels_last(t: torch.Tensor) -> bool:
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
