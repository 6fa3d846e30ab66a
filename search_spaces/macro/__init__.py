"""A MobileNetV2/OFA-style macro space for CIFAR, built from entangled ops."""
from __future__ import annotations

from typing import Any, Callable

from nasengine.space import Sample, SearchSpace
from nasengine.families import SPACES, SpaceFamily

from .model import EntangledMBConv, MacroStandalone, MacroSupernet, MBConv
from .space import DEPTHS, EXPANDS, KERNELS, MacroSpace, block_label, depth_label

__all__ = ["DEPTHS", "EXPANDS", "KERNELS", "EntangledMBConv", "MBConv", "MacroFamily",
           "MacroSpace", "MacroStandalone", "MacroSupernet", "block_label", "depth_label"]


class MacroFamily(SpaceFamily):
    """The macro space at any base width ``channels`` and ``num_classes``.

    The space is fixed (4 stages, depth 2-4, kernel 3/5/7, expand 3/4/6); ``channels``
    scales every width. Params/FLOPs of a subnet are counted on its stand-alone net.
    """

    name = "macro"

    def space(self) -> MacroSpace:
        return MacroSpace()

    def supernet(self, sharing: Callable, space: SearchSpace | None = None,
                 channels: int = 16, num_classes: int = 10, cells: int | None = None
                 ) -> MacroSupernet:
        """``cells`` (the run config's NB201 depth) is unused: depth is a searched decision."""
        return MacroSupernet(space or self.space(), sharing, channels, num_classes)

    def standalone(self, arch: Sample, channels: int = 16, num_classes: int = 10,
                   cells: int | None = None) -> MacroStandalone:
        return MacroStandalone(arch, self.space(), channels, num_classes)

    def input_shape(self, **config: Any) -> tuple[int, ...]:
        return (1, 3, 32, 32)


SPACES.register("macro")(MacroFamily)
