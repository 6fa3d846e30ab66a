"""Masks of weight entanglement: a weighted sum of zero-padded slices, as one tensor.

A smaller kernel is the centre crop of the largest and a narrower layer its leading
channels, so ``sum_k w_k * zero_pad(slice_k)`` is the largest weight times a mask; one
convolution or matmul with it equals the weighted sum of K separate ones.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from ..errors import SpaceError

__all__ = ["centre_slice", "check_choices", "kernel_mask", "marginal", "width_mask"]


def check_choices(what: str, choices: Sequence[int], largest: int | None = None
                   ) -> tuple[int, ...]:
    values = tuple(int(c) for c in choices)
    if not values or min(values) < 1:
        raise SpaceError(f"{what} choices must be positive integers, got {list(choices)}")
    if largest is not None and max(values) > largest:
        raise SpaceError(f"{what} choice {max(values)} is above the super-weight's {largest}; "
                         f"build the entangled op with a larger maximum")
    return values


def kernel_mask(kernels: Sequence[int], weights: torch.Tensor) -> torch.Tensor:
    """``sum_k w_k * (centred k x k block of ones)``, of the largest kernel's size.

    Multiplying the largest kernel by it gives ``sum_k w_k * zero_pad(centre_crop_k)``.
    """
    size = max(kernels)
    mask = weights.new_zeros(size, size)
    for k, w in zip(kernels, weights):
        lo = (size - k) // 2
        mask = mask + F.pad(w.expand(k, k), (lo, lo, lo, lo))
    return mask


def width_mask(widths: Sequence[int], weights: torch.Tensor, largest: int) -> torch.Tensor:
    """``sum_w p_w * [c < w]`` for channels ``c < largest``: leading-slice widths, mixed."""
    index = torch.arange(largest, device=weights.device)
    below = (index[None, :] < torch.tensor(widths, device=weights.device)[:, None])
    return (weights[:, None] * below.to(weights.dtype)).sum(0)


def centre_slice(size: int, kernel: int) -> slice:
    lo = (size - kernel) // 2
    return slice(lo, lo + kernel)


def marginal(configs: Sequence[Mapping[str, Any]], weights: torch.Tensor, key: str,
             values: Sequence[Any]) -> torch.Tensor:
    """Weights of ``values`` of one config field: the sum over configs that share it.

    Mixing each field by its marginal is exact when ``weights`` factorise over the
    fields (a product of per-decision softmaxes does).
    """
    index = {v: i for i, v in enumerate(values)}
    unknown = [c[key] for c in configs if c[key] not in index]
    if unknown:
        raise SpaceError(f"{key} {unknown[0]!r} is not a choice of this entangled op; "
                         f"choose one of {list(values)}")
    slots = torch.tensor([index[c[key]] for c in configs], device=weights.device)
    return weights.new_zeros(len(values)).index_add(0, slots, weights)
