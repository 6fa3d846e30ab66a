"""NB201 candidate operations and the ResNet reduction block (as in NB201's code)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.supernet.layers import EntangledConv2d
from nasengine.supernet.masks import marginal
from nasengine.supernet.sharing import SlicedChoice


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k, no bias) -> BN, NB201's ``nor_conv_kxk``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, *,
                 affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class BoxAverage(nn.Module):
    """Average pooling with padding excluded from the count, computed as a box-sum convolution.

    Same values as ``nn.AvgPool2d(kernel, stride, padding, count_include_pad=False)``. On CPU
    channels_last tensors oneDNN's depthwise convolution is 8-10x faster than ``avg_pool2d``,
    which had made pooling 23% of ranking time (benchmarks/RESULTS.md); other layouts and
    devices keep ``avg_pool2d``.
    """

    def __init__(self, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self._constants: dict[tuple, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not x.is_contiguous(memory_format=torch.channels_last):
            return F.avg_pool2d(x, self.kernel, self.stride, self.padding,
                                count_include_pad=False)
        weight, inv_count = self._box(x)
        out = F.conv2d(x, weight, stride=self.stride, padding=self.padding, groups=x.shape[1])
        return out if inv_count is None else out * inv_count

    def _box(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Depthwise kernel and 1/(in-image cells per window), cached per shape/mode.

        Without padding every window counts ``kernel**2`` cells, so the kernel holds the
        average's weights and no product follows. Otherwise the count map is stored
        expanded to the input's channels in channels_last: multiplying by a
        ``(1, 1, H, W)`` map broadcasts along the innermost (channel) axis, 5x slower.
        """
        key = (*x.shape[1:], x.dtype, torch.is_inference_mode_enabled())
        if key not in self._constants:
            c, h, w = x.shape[1:]
            ones = torch.ones(1, 1, self.kernel, self.kernel, dtype=x.dtype)
            if not self.padding:
                self._constants[key] = ((ones / self.kernel ** 2).expand(c, 1, -1, -1)
                                        .contiguous(), None)
            else:
                count = F.conv2d(torch.ones(1, 1, h, w, dtype=x.dtype), ones,
                                 stride=self.stride, padding=self.padding)
                inv = (1.0 / count).expand(1, c, -1, -1)
                self._constants[key] = (ones.expand(c, 1, -1, -1).contiguous(),
                                        inv.contiguous(memory_format=torch.channels_last))
        return self._constants[key]


class AvgPool(BoxAverage):
    """NB201's ``avg_pool_3x3``: stride 1, padding 1, padding not counted."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1)


class ResNetBasicBlock(nn.Module):
    """Stride-2 reduction between stages: two ReLUConvBN 3x3 + avgpool/1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(BoxAverage(2, stride=2),
                                      nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


OpFactory = Callable[[int, bool], nn.Module]
"""(channels, affine) -> module; ``none`` has no module (it contributes zeros)."""

OP_FACTORIES: dict[str, OpFactory] = {
    "skip_connect": lambda c, affine: Identity(),
    "nor_conv_1x1": lambda c, affine: ReLUConvBN(c, c, 1, affine=affine),
    "nor_conv_3x3": lambda c, affine: ReLUConvBN(c, c, 3, affine=affine),
    "avg_pool_3x3": lambda c, affine: AvgPool(),
}


class EntangledReLUConvBN(nn.Module):
    """``nor_conv_1x1`` and ``nor_conv_3x3`` of one edge as one 3x3 weight (1x1 = its centre).

    The edge's ReLU and BN are shared too (one BN after the one mixed conv), as in
    TangleNAS's NB201 and OFA's elastic kernels.
    """

    def __init__(self, channels: int, kernels: tuple[int, ...], affine: bool) -> None:
        super().__init__()
        self.conv = EntangledConv2d(channels, channels, kernels)
        self.bn = nn.BatchNorm2d(channels, affine=affine)

    def forward(self, x: torch.Tensor, kernel: int) -> torch.Tensor:
        return self.bn(self.conv(F.relu(x), kernel))

    def forward_mixture(self, x: torch.Tensor, configs: list[dict], weights: torch.Tensor
                        ) -> torch.Tensor:
        mix = marginal(configs, weights, "kernel", self.conv.kernels)
        return self.bn(self.conv.forward_mixture(F.relu(x), mix))

    @torch.no_grad()
    def extract(self, kernel: int) -> ReLUConvBN:
        c = self.conv.in_channels
        op = ReLUConvBN(c, c, kernel, affine=self.bn.affine).to(self.conv.weight.device)
        op[1].weight.copy_(self.conv.weight_slice(kernel, c, c))
        op[2].load_state_dict(self.bn.state_dict())
        return op


def entangled_conv_factory(kernel: int) -> Callable[[int, bool], SlicedChoice]:
    """(channels, affine) -> a choice that entanglement builds as a slice of the edge's conv."""

    def choice(channels: int, affine: bool) -> SlicedChoice:
        return SlicedChoice(
            group="nor_conv", config={"kernel": kernel},
            standalone=lambda: ReLUConvBN(channels, channels, kernel, affine=affine),
            super_op=lambda configs: EntangledReLUConvBN(
                channels, tuple(sorted(cfg["kernel"] for cfg in configs)), affine))

    return choice


SLICED_OPS: dict[str, Callable[[int, bool], SlicedChoice]] = {
    "nor_conv_1x1": entangled_conv_factory(1),
    "nor_conv_3x3": entangled_conv_factory(3),
}
"""Ops that are slices of one super-op; weight sharing builds each alone, as OP_FACTORIES."""
