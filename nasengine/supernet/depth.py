"""Elastic depth: a stage runs its first ``depth`` blocks; a mixture weighs every depth."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..errors import SpaceError
from .masks import check_choices

__all__ = ["depth_mixture", "elastic_depth"]


def elastic_depth(blocks: Sequence[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor,
                  depth: int) -> torch.Tensor:
    """Run the first ``depth`` blocks (a stage with elastic depth)."""
    if not 1 <= depth <= len(blocks):
        raise SpaceError(f"depth {depth} is outside 1..{len(blocks)} blocks of this stage; "
                         f"choose a depth of at most {len(blocks)}")
    for block in blocks[:depth]:
        x = block(x)
    return x


def depth_mixture(blocks: Sequence[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor,
                  depths: Sequence[int], weights: torch.Tensor) -> torch.Tensor:
    """``sum_d p_d * (output after d blocks)``: one pass yields every candidate depth."""
    depths = check_choices("depth", depths, len(blocks))
    wanted = dict(zip(depths, weights))
    total: torch.Tensor | None = None
    for d, block in enumerate(blocks[:max(depths)], start=1):
        x = block(x)
        if d in wanted:
            total = wanted[d] * x if total is None else total + wanted[d] * x
    assert total is not None  # depths is non-empty
    return total
