"""NB201 macro skeleton, shared by the supernet and the standalone networks.

Stem conv 3->C + BN; three stages of N cells (C, 2C, 4C) with ResNet basic-block
reductions between; BN-ReLU-GAP-linear head (Dong & Yang, ICLR 2020).
The cell's edges come from an *edge builder* (a sharing mechanism, or a single
fixed op for a standalone network), so one skeleton serves both.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

from nasengine.errors import SpaceError
from nasengine.supernet.base import MixtureSupernet
from nasengine.supernet.sharing import ChoiceEdge, ChoiceFactory

from .ops import OP_FACTORIES, SLICED_OPS, ResNetBasicBlock
from .graph import effective_arch
from .space import NODES, NB201Space, edge_label

EdgeFor = Callable[[str, int], nn.Module]
"""(edge label, channels) -> edge module with ``forward(x, op)``."""


class NB201Cell(nn.Module):
    """4-node DAG; node i = sum of one op applied to each earlier node.

    With ``skip_zero_inputs`` an edge whose source node is identically zero
    is skipped; this is exact only when every op maps 0 to 0 (BN without affine
    params, as in the supernet), so standalone (affine) networks leave it off.
    """

    def __init__(self, channels: int, edge_for: EdgeFor, skip_zero_inputs: bool) -> None:
        super().__init__()
        self.edges = nn.ModuleDict({edge_label(i, j): edge_for(edge_label(i, j), channels)
                                    for i in range(1, NODES) for j in range(i)})
        self.skip_zero_inputs = skip_zero_inputs

    def forward(self, x: torch.Tensor, arch: Mapping[str, str]) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x]
        for i in range(1, NODES):
            total: torch.Tensor | None = None
            for j in range(i):
                op = arch[edge_label(i, j)]
                source = nodes[j]
                if op == "none" or (source is None and self.skip_zero_inputs):
                    continue
                out = self.edges[edge_label(i, j)](torch.zeros_like(x) if source is None
                                                   else source, op)
                total = out if total is None else total + out
            nodes.append(total)
        return nodes[-1] if nodes[-1] is not None else torch.zeros_like(x)

    def forward_mixture(self, x: torch.Tensor, weights: Mapping[str, Mapping[str, torch.Tensor]],
                        one_pass: bool) -> torch.Tensor:
        """DARTS cell: node i = sum over j of the edge's weighted op mixture (``none`` adds 0)."""
        nodes = [x]
        for i in range(1, NODES):
            nodes.append(sum(self.edges[edge_label(i, j)].forward_mixture(
                nodes[j], weights[edge_label(i, j)], one_pass) for j in range(i)))
        return nodes[-1]


class NB201Network(nn.Module):
    """The skeleton; ``forward(x, arch)`` routes every cell through ``arch``."""

    def __init__(self, channels: int, cells: int, num_classes: int, edge_for: EdgeFor,
                 skip_zero_inputs: bool) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage:
                layers.append(ResNetBasicBlock(width // 2, width))
            layers += [NB201Cell(width, edge_for, skip_zero_inputs) for _ in range(cells)]
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(4 * c, num_classes)

    def forward(self, x: torch.Tensor, arch: Mapping[str, str]) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, arch) if isinstance(layer, NB201Cell) else layer(x)
        return self.classifier(self.head(x))

    def forward_mixture(self, x: torch.Tensor, weights: Mapping[str, Mapping[str, torch.Tensor]],
                        one_pass: bool) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer.forward_mixture(x, weights, one_pass) if isinstance(layer, NB201Cell) \
                else layer(x)
        return self.classifier(self.head(x))


def op_choices(channels: int, ops: tuple[str, ...], affine: bool) -> dict[str, ChoiceFactory]:
    """Factories for the ops of one edge (``none`` holds no weights).

    The convs are :class:`SlicedChoice`s: built alone they are the plain ops; the
    ``"entangled"`` mechanism makes them slices of one super-op.
    """
    return {op: (SLICED_OPS[op](channels, affine) if op in SLICED_OPS
                 else (lambda op=op: OP_FACTORIES[op](channels, affine)))
            for op in ops if op != "none"}


class NB201Supernet(MixtureSupernet):
    """Single-path NB201 supernet; op BNs have no affine params (NB201 search models).

    Its mixture forward is the DARTS cell; with ``"entangled"`` sharing the two convs
    of an edge mix in one pass (TangleNAS's NB201).
    """

    def __init__(self, space: NB201Space, sharing: Callable[[Mapping[str, ChoiceFactory]], nn.Module],
                 channels: int = 16, cells: int = 5, num_classes: int = 10) -> None:
        super().__init__()
        self.space = space
        self.config = {"channels": channels, "cells": cells, "num_classes": num_classes}
        self.network = NB201Network(
            channels, cells, num_classes, skip_zero_inputs=True,
            edge_for=lambda label, c: sharing(op_choices(c, tuple(space.decisions[label].values),
                                                         affine=False)))

    def forward(self, x: torch.Tensor, arch: Mapping[str, str]) -> torch.Tensor:
        return self.network(x, arch)

    def forward_mixture(self, x: torch.Tensor, probs: Mapping[str, torch.Tensor],
                        one_pass: bool = True) -> torch.Tensor:
        weights = {}
        for label, dec in self.space.decisions.items():
            if label not in probs or probs[label].shape != (len(dec.values),):
                raise SpaceError(f"mixture weights for edge {label!r} must be a vector of "
                                 f"{len(dec.values)} (one per op {list(dec.values)})")
            weights[label] = {op: w for op, w in zip(dec.values, probs[label]) if op != "none"}
        return self.network.forward_mixture(x, weights, one_pass)

    def canonical(self, arch: Mapping[str, str]) -> dict[str, str]:
        """Set dead edges to ``none``: same function here (ops map 0 to 0, no affine BN)."""
        return effective_arch(arch)

    def choice_modules(self, arch: Mapping[str, str]) -> dict[str, list[nn.Module]]:
        used: dict[str, list[nn.Module]] = {}
        for layer in self.network.layers:
            if isinstance(layer, NB201Cell):
                for label, edge in layer.edges.items():
                    module = edge.module_for(arch[label])
                    if module is not None:
                        used.setdefault(arch[label], []).append(module)
        return used


class NB201Standalone(nn.Module):
    """The evaluation network of one arch (affine BN in cells, as NB201 trains it)."""

    def __init__(self, arch: Mapping[str, str], channels: int = 16, cells: int = 5,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.arch = dict(arch)
        self.network = NB201Network(
            channels, cells, num_classes, skip_zero_inputs=False,
            edge_for=lambda label, c: _fixed_edge(self.arch[label], c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x, self.arch)


def _fixed_edge(op: str, channels: int) -> nn.Module:
    return ChoiceEdge(op_choices(channels, (op,), affine=True))
