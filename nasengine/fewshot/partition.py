"""Two-way graph cuts of a decision's choices, registered by name.

The choices of one decision are the nodes of a complete weighted graph whose edge
weights say how much two choices agree (non-negative, e.g. a shifted cosine
similarity). A partition into two groups is good when the weight crossing it, the
*cut*, is small: the groups then disagree most. GM-NAS compares decisions by this cut.

* ``stoer_wagner``: the global minimum cut (``networkx.stoer_wagner``); it may cut off
  a single choice.
* ``spectral``: the sign of the Fiedler vector of the graph Laplacian (``scipy``), a
  relaxation of the ratio cut that prefers balanced groups.
* ``balanced``: the exact minimum cut among splits into groups of sizes
  ``floor(k/2)`` and ``ceil(k/2)``, the rule GM-NAS codes for NB201 (2 | 3 of 5 ops).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigError
from ..registry import Registry

MAX_BALANCED = 16  # C(16, 8) = 12,870 candidate splits


@dataclass(frozen=True)
class Bipartition:
    """Two groups of node indices (group 0 holds node 0) and the weight crossing them."""

    groups: tuple[tuple[int, ...], tuple[int, ...]]
    cut: float


Partitioner = Callable[[np.ndarray], Bipartition]
PARTITIONERS: Registry[Bipartition] = Registry("partitioner")
"""name -> ``partitioner(weights) -> Bipartition``."""


def check_weights(weights: np.ndarray) -> np.ndarray:
    """A symmetric, finite, non-negative k x k matrix with k >= 2, as float64."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
        raise ConfigError(f"a partition needs a square weight matrix over >= 2 choices, "
                          f"got shape {w.shape}; a decision with one choice cannot be split")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.allclose(w, w.T):
        raise ConfigError("partition weights must be finite, non-negative and symmetric; "
                          "shift similarities into [0, inf) first (e.g. (1 + cos) / 2)")
    return w


def cut_value(weights: np.ndarray, group: tuple[int, ...]) -> float:
    """Total weight of the graph edges between ``group`` and the other nodes."""
    w = np.asarray(weights, dtype=np.float64)
    inside = np.zeros(len(w), dtype=bool)
    inside[list(group)] = True
    return float(w[np.ix_(inside, ~inside)].sum())


def bipartition(weights: np.ndarray, group: set[int] | tuple[int, ...]) -> Bipartition:
    """The :class:`Bipartition` that separates ``group`` from the rest, in canonical order."""
    k = len(weights)
    a = tuple(sorted(group))
    b = tuple(i for i in range(k) if i not in group)
    if not a or not b:
        raise ConfigError(f"a partition must leave both groups non-empty, got {a} | {b}")
    first, second = (a, b) if 0 in a else (b, a)
    return Bipartition((first, second), cut_value(weights, first))


@PARTITIONERS.register("stoer_wagner")
def stoer_wagner(weights: np.ndarray) -> Bipartition:
    """Global minimum cut of the complete graph (Stoer & Wagner 1997)."""
    import networkx as nx

    w = check_weights(weights)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(w)))
    pairs = itertools.combinations(range(len(w)), 2)
    graph.add_weighted_edges_from((i, j, w[i, j]) for i, j in pairs)
    _, (part, _) = nx.stoer_wagner(graph)
    return bipartition(w, set(part))


@PARTITIONERS.register("spectral")
def spectral(weights: np.ndarray) -> Bipartition:
    """Split by the sign of the Fiedler vector (second eigenvector of L = D - W)."""
    from scipy.linalg import eigh

    w = check_weights(weights)
    laplacian = np.diag(w.sum(1) - np.diag(w)) - (w - np.diag(np.diag(w)))
    _, vectors = eigh(laplacian)
    fiedler = vectors[:, 1]
    group = {i for i, v in enumerate(fiedler) if v > 0}
    if not 0 < len(group) < len(w):  # degenerate spectrum: take the larger half
        group = set(np.argsort(-fiedler, kind="stable")[: len(w) // 2].tolist())
    return bipartition(w, group)


@PARTITIONERS.register("balanced")
def balanced(weights: np.ndarray) -> Bipartition:
    """Exact minimum cut over all splits into groups of sizes floor(k/2) and ceil(k/2)."""
    w = check_weights(weights)
    k = len(w)
    if k > MAX_BALANCED:
        raise ConfigError(f"the balanced partition enumerates every split and allows at most "
                          f"{MAX_BALANCED} choices, got {k}; use 'stoer_wagner' or 'spectral'")
    splits = (bipartition(w, set(c)) for c in itertools.combinations(range(k), k // 2))
    return min(splits, key=lambda p: (p.cut, p.groups))


def partition(name: str, weights: np.ndarray) -> Bipartition:
    """Partition with the registered partitioner ``name``."""
    return PARTITIONERS.get(name)(weights)
