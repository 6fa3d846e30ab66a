"""The macro (MobileNetV2/OFA-style) CIFAR space: per-block kernel and expansion, per-stage depth.

Decisions, in order, per stage ``s``: ``s{s}.depth`` then, for each block ``b`` up to
the largest depth, ``s{s}.b{b}.kernel`` and ``s{s}.b{b}.expand``. Blocks beyond a
stage's depth are not run, so their decisions are inert (see :meth:`MacroSpace.canonical`).
"""
from __future__ import annotations

from typing import Any, Mapping

from nasengine.errors import SpaceError
from nasengine.space import Categorical, Sample, SearchSpace

KERNELS: tuple[int, ...] = (3, 5, 7)
EXPANDS: tuple[int, ...] = (3, 4, 6)
DEPTHS: tuple[int, ...] = (2, 3, 4)
STAGES = 4


def depth_label(stage: int) -> str:
    return f"s{stage}.depth"


def block_label(stage: int, block: int, field: str) -> str:
    return f"s{stage}.b{block}.{field}"


class MacroSpace(SearchSpace):
    """``stages`` stages of elastic depth; each block picks a kernel and an expansion ratio."""

    name = "macro"

    def __init__(self, stages: int = STAGES, depths: tuple[int, ...] = DEPTHS,
                 kernels: tuple[int, ...] = KERNELS, expands: tuple[int, ...] = EXPANDS) -> None:
        if stages < 1 or min(depths) < 1:
            raise SpaceError(f"the macro space needs >= 1 stage and depths >= 1, got "
                             f"stages={stages}, depths={list(depths)}")
        self.stages, self.depths = stages, tuple(depths)
        self.kernels, self.expands = tuple(kernels), tuple(expands)
        decisions = []
        for s in range(stages):
            decisions.append(Categorical(depth_label(s), self.depths))
            for b in range(max(self.depths)):
                decisions.append(Categorical(block_label(s, b, "kernel"), self.kernels))
                decisions.append(Categorical(block_label(s, b, "expand"), self.expands))
        super().__init__(decisions)

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    def active_blocks(self, arch: Mapping[str, Any]) -> list[list[tuple[int, int]]]:
        """Per stage, the (kernel, expand) of the blocks that run."""
        arch = self.validate(arch)
        return [[(arch[block_label(s, b, "kernel")], arch[block_label(s, b, "expand")])
                 for b in range(arch[depth_label(s)])] for s in range(self.stages)]

    def canonical(self, arch: Mapping[str, Any]) -> Sample:
        """Inert decisions (blocks past a stage's depth) set to their first choice."""
        sample = self.validate(arch)
        for s in range(self.stages):
            for b in range(sample[depth_label(s)], self.max_depth):
                sample[block_label(s, b, "kernel")] = self.kernels[0]
                sample[block_label(s, b, "expand")] = self.expands[0]
        return sample

    def largest(self) -> Sample:
        """The largest subnet (what an entangled supernet's memory is sized by)."""
        return {label: max(d.values) for label, d in self.decisions.items()}
