"""Entangled layers: a conv, a linear and a BN whose choices are slices of one weight.

Single path runs on a slice (a view, no copy); ``forward_mixture`` runs once on the
largest weight times a mask (:mod:`.masks`); ``extract`` copies one slice out as a
plain ``nn`` module.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpaceError
from .masks import centre_slice, check_choices, kernel_mask, width_mask

__all__ = ["EntangledBatchNorm2d", "EntangledConv2d", "EntangledLinear"]


class EntangledConv2d(nn.Module):
    """A conv whose kernel size (centre crop) and in/out widths (leading slices) are choices.

    Args:
        in_channels / out_channels: the largest widths (the super-weight's shape).
        kernels: odd kernel sizes; smaller ones are centre crops of the largest.
        depthwise: one filter per channel (``groups`` = width), as in MBConv blocks;
            then in and out widths are the same choice.
    """

    def __init__(self, in_channels: int, out_channels: int, kernels: Sequence[int] = (1,),
                 stride: int = 1, *, depthwise: bool = False, bias: bool = False) -> None:
        super().__init__()
        self.kernels = check_choices("kernel", kernels)
        if any(k % 2 == 0 for k in self.kernels):
            raise SpaceError(f"kernel choices must be odd (centre crops need a centre), "
                             f"got {list(self.kernels)}")
        if depthwise and in_channels != out_channels:
            raise SpaceError(f"a depthwise conv maps C to C channels, got {in_channels} -> "
                             f"{out_channels}; give equal widths")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.depthwise = stride, depthwise
        k = max(self.kernels)
        self.weight = nn.Parameter(torch.empty(out_channels, 1 if depthwise else in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Conv2d's default init

    @property
    def max_kernel(self) -> int:
        return self.weight.shape[-1]

    def check(self, kernel: int, in_channels: int, out_channels: int) -> None:
        """Raise :class:`SpaceError` naming the allowed values if the config is not a slice."""
        if kernel not in self.kernels:
            raise SpaceError(f"kernel {kernel} is not a choice of this entangled conv; "
                             f"choose one of {list(self.kernels)}")
        for what, value, top in (("input", in_channels, self.in_channels),
                                 ("output", out_channels, self.out_channels)):
            if not 1 <= value <= top:
                raise SpaceError(f"{what} width {value} is outside 1..{top} of this entangled "
                                 f"conv; use a width of at most {top} (or build a wider op)")
        if self.depthwise and in_channels != out_channels:
            raise SpaceError(f"a depthwise conv keeps its width, got {in_channels} -> "
                             f"{out_channels}")

    def weight_slice(self, kernel: int, in_channels: int, out_channels: int) -> torch.Tensor:
        """The sub-weight of one config: a view into :attr:`weight`, never a copy."""
        self.check(kernel, in_channels, out_channels)
        centre = centre_slice(self.max_kernel, kernel)
        c_in = 1 if self.depthwise else in_channels
        return self.weight[:out_channels, :c_in, centre, centre]

    def forward(self, x: torch.Tensor, kernel: int | None = None,
                out_channels: int | None = None) -> torch.Tensor:
        """Single path: the input width is ``x``'s; defaults are the largest choices."""
        c_in = x.shape[1]
        c_out = c_in if self.depthwise else (self.out_channels if out_channels is None
                                             else out_channels)
        kernel = self.max_kernel if kernel is None else kernel
        weight = self.weight_slice(kernel, c_in, c_out)
        bias = None if self.bias is None else self.bias[:c_out]
        return F.conv2d(x, weight, bias, self.stride, kernel // 2,
                        groups=c_in if self.depthwise else 1)

    def forward_mixture(self, x: torch.Tensor, kernel_weights: torch.Tensor | None = None,
                        out_widths: Sequence[int] | None = None,
                        out_weights: torch.Tensor | None = None) -> torch.Tensor:
        """One conv with ``sum_k w_k zero_pad(slice_k)``; output channels mixed by a width mask.

        ``kernel_weights`` align with :attr:`kernels`; ``x`` must have the full input width.
        """
        if x.shape[1] != self.in_channels:
            raise SpaceError(f"the mixture forward runs at full width: the input has {x.shape[1]} "
                             f"channels, this conv {self.in_channels}; mix narrower widths with a "
                             "channel mask instead of slicing the input")
        weight = self.weight
        if kernel_weights is not None:
            weight = weight * kernel_mask(self.kernels, kernel_weights)
        y = F.conv2d(x, weight, self.bias, self.stride, self.max_kernel // 2,
                     groups=x.shape[1] if self.depthwise else 1)
        if out_weights is not None:
            widths = check_choices("output width", out_widths or (), self.out_channels)
            y = y * width_mask(widths, out_weights, self.out_channels)[None, :, None, None]
        return y

    @torch.no_grad()
    def extract(self, kernel: int, in_channels: int, out_channels: int) -> nn.Conv2d:
        """A stand-alone ``nn.Conv2d`` holding a copy of one config's weights."""
        weight = self.weight_slice(kernel, in_channels, out_channels)
        conv = nn.Conv2d(in_channels, out_channels, kernel, self.stride, kernel // 2,
                         groups=in_channels if self.depthwise else 1, bias=self.bias is not None)
        conv.weight.copy_(weight)
        if self.bias is not None:
            conv.bias.copy_(self.bias[:out_channels])
        return conv.to(self.weight.device)


class EntangledLinear(nn.Module):
    """A linear layer whose in/out features are leading slices of the largest weight."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        reference = nn.Linear(in_features, out_features, bias=bias)  # default init
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None

    def weight_slice(self, in_features: int, out_features: int) -> torch.Tensor:
        """A view of the leading ``out_features x in_features`` block."""
        top_out, top_in = self.weight.shape
        for what, value, top in (("input", in_features, top_in), ("output", out_features, top_out)):
            if not 1 <= value <= top:
                raise SpaceError(f"{what} features {value} outside 1..{top} of this entangled "
                                 f"linear; use at most {top} (or build a wider layer)")
        return self.weight[:out_features, :in_features]

    def forward(self, x: torch.Tensor, out_features: int | None = None) -> torch.Tensor:
        out = self.weight.shape[0] if out_features is None else out_features
        bias = None if self.bias is None else self.bias[:out]
        return F.linear(x, self.weight_slice(x.shape[-1], out), bias)

    def forward_mixture(self, x: torch.Tensor, out_widths: Sequence[int],
                        out_weights: torch.Tensor) -> torch.Tensor:
        """One matmul at full width, output features mixed by a width mask."""
        widths = check_choices("output features", out_widths, self.weight.shape[0])
        return self(x) * width_mask(widths, out_weights, self.weight.shape[0])

    @torch.no_grad()
    def extract(self, in_features: int, out_features: int) -> nn.Linear:
        layer = nn.Linear(in_features, out_features, bias=self.bias is not None)
        layer.weight.copy_(self.weight_slice(in_features, out_features))
        if self.bias is not None:
            layer.bias.copy_(self.bias[:out_features])
        return layer.to(self.weight.device)


class EntangledBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the leading channels of its input (OFA's dynamic BN).

    The sliced running statistics are views, so a narrow path updates the shared ones.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c > self.num_features:
            raise SpaceError(f"input width {c} is above this BN's {self.num_features} channels; "
                             "build the entangled block with a larger maximum width")
        if c == self.num_features:
            return super().forward(x)
        factor = 0.0  # nn.BatchNorm2d's update rule, on sliced statistics
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None \
                else self.momentum
        use_stats = self.running_mean is not None and (not self.training
                                                       or self.track_running_stats)
        mean = self.running_mean[:c] if use_stats else None
        var = self.running_var[:c] if use_stats else None
        weight = None if self.weight is None else self.weight[:c]
        bias = None if self.bias is None else self.bias[:c]
        use_batch = self.training or self.running_mean is None
        return F.batch_norm(x, mean, var, weight, bias, use_batch, factor, self.eps)

    @torch.no_grad()
    def extract(self, channels: int) -> nn.BatchNorm2d:
        bn = nn.BatchNorm2d(channels, self.eps, self.momentum, self.affine,
                            self.track_running_stats)
        for name in ("weight", "bias", "running_mean", "running_var"):
            source = getattr(self, name)
            if source is not None:
                getattr(bn, name).copy_(source[:channels])
        if self.num_batches_tracked is not None:
            bn.num_batches_tracked.copy_(self.num_batches_tracked)
        return bn.to(self.running_mean.device if self.running_mean is not None else "cpu")
