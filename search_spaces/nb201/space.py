"""The NAS-Bench-201 cell space: 6 edges x 5 ops = 15,625 architectures.

Decision labels are the edges ``"i<-j"`` in NB201's ``edge2index`` order, which is
also the order of ops in the official arch string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from nasengine.errors import SpaceError
from nasengine.space import Categorical, Sample, SearchSpace

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NODES = 4
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(1, NODES) for j in range(i))
LABELS: tuple[str, ...] = tuple(f"{i}<-{j}" for i, j in EDGES)
_ENTRY = re.compile(r"^([A-Za-z0-9_]+)~(\d+)$")
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def edge_label(i: int, j: int) -> str:
    return f"{i}<-{j}"


class NB201Space(SearchSpace):
    """NB201 topology space; ``format``/``parse`` use the official arch string."""

    name = "nb201"

    def __init__(self, ops: tuple[str, ...] = OPS) -> None:
        super().__init__([Categorical(label, tuple(ops)) for label in LABELS])

    def format(self, sample: Mapping[str, Any]) -> str:
        sample = self.validate(sample)
        groups = ("|" + "|".join(f"{sample[edge_label(i, j)]}~{j}" for j in range(i)) + "|"
                  for i in range(1, NODES))
        return "+".join(groups)

    def parse(self, text: str) -> Sample:
        """Parse an official arch string; errors say exactly which part is wrong."""
        if not isinstance(text, str):
            raise SpaceError(f"an NB201 arch string is text, got {type(text).__name__}")
        hint = f"expected {NODES - 1} '+'-joined node groups like {EXAMPLE!r}"
        groups = text.strip().split("+")
        if len(groups) != NODES - 1:
            raise SpaceError(f"malformed NB201 arch string {text!r}: {hint}")
        sample: Sample = {}
        for i, group in enumerate(groups, start=1):
            if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
                raise SpaceError(f"malformed node group {group!r} in {text!r}: each group is "
                                 f"'|op~j|...|' ({hint})")
            entries = group[1:-1].split("|")
            if len(entries) != i:
                raise SpaceError(f"node {i} in {text!r} has {len(entries)} incoming edges, "
                                 f"needs {i} (one from each earlier node); {hint}")
            for j, entry in enumerate(entries):
                match = _ENTRY.match(entry)
                if match is None or int(match.group(2)) != j:
                    raise SpaceError(f"malformed edge {entry!r} of node {i} in {text!r}: "
                                     f"expected 'op~{j}'")
                sample[edge_label(i, j)] = match.group(1)
        unknown = sorted({op for op in sample.values() if op not in OPS})
        if unknown:
            raise SpaceError(f"unknown op(s) {unknown} in {text!r}; NB201 ops are {list(OPS)}")
        return self.validate(sample)

    def coerce(self, arch: str | Mapping[str, Any]) -> Sample:
        """Accept an arch string or a sample dict; return a validated sample."""
        return self.parse(arch) if isinstance(arch, str) else self.validate(arch)
