"""NB201 candidate operations and the ResNet reduction block (as in NB201's code)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


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


class AvgPool(nn.AvgPool2d):
    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1, count_include_pad=False)


class ResNetBasicBlock(nn.Module):
    """Stride-2 reduction between stages: two ReLUConvBN 3x3 + avgpool/1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2),
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
