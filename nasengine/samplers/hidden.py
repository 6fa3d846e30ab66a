"""Adam & Lorraine's diagnostic: does the controller's hidden state encode the arch?

If the LSTM conditions on its earlier decisions, the state it reaches after reading an
arch should be far from another arch's state when the archs differ much, and close
when they are alike. We feed archs to the controller (teacher forcing), take its final
top-layer state, and correlate (Spearman, over all pairs) the L2 distances between
states with two arch distances: Hamming (decisions that differ) and, when a cell
graph is given, the graph edit distance between the cells' DAGs (networkx; input and
output nodes keep their roles, an edge's op must match to be kept). ``hidden_spread``
(mean pairwise state distance over the mean state norm) is 0 when every arch gives
the same state, the paper's "identical rows".
"""
from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from scipy.stats import spearmanr

from ..errors import ConfigError
from ..space import Sample

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

    from .enas import EnasSampler

SOURCES = ("controller", "uniform")


def hidden_state_analysis(sampler: EnasSampler, n: int = 100, *, source: str = "controller",
                          seed: int = 0, graph: Callable[[Sample], nx.DiGraph] | None = None
                          ) -> dict[str, Any]:
    """Correlations between hidden-state and arch distances over ``n`` archs.

    ``source="controller"`` draws the archs from the controller (the paper's probe);
    ``"uniform"`` draws them uniformly, which probes conditioning even when the
    controller has collapsed onto a few archs.
    """
    if source not in SOURCES:
        raise ConfigError(f"hidden-state archs come from one of {list(SOURCES)}, got {source!r}")
    if n < 3:
        raise ConfigError(f"the hidden-state analysis needs at least 3 archs, got {n}")
    archs = _archs(sampler, n, source, seed)
    with torch.no_grad():
        states = sampler.controller.hidden_state(sampler.encode(archs)).double()
    pairs = list(itertools.combinations(range(n), 2))
    state_dist = [float(torch.dist(states[i], states[j])) for i, j in pairs]
    vectors = [sampler.space.to_vector(a) for a in archs]
    distances = {"hamming": [sum(a != b for a, b in zip(vectors[i], vectors[j])) for i, j in pairs]}
    if graph is not None:
        distances["graph_edit"] = _graph_edit_distances([graph(a) for a in archs], pairs)
    result: dict[str, Any] = {"n": n, "source": source, "distinct": len(set(map(tuple, vectors))),
                              "hidden_spread": statistics.mean(state_dist) /
                              max(float(states.norm(dim=1).mean()), 1e-12)}
    for name, values in distances.items():
        constant = len(set(state_dist)) == 1 or len(set(values)) == 1
        rho = None if constant else spearmanr(state_dist, values)  # undefined when constant
        result[f"spearman_{name}"] = rho and _finite(rho.statistic)
        result[f"p_{name}"] = rho and _finite(rho.pvalue)
    result["states"] = states.tolist()
    result["archs"] = [sampler.space.format(a) for a in archs]
    result["vectors"] = vectors
    return result


def _archs(sampler: EnasSampler, n: int, source: str, seed: int) -> list[Sample]:
    if source == "controller":
        return sampler.draw(n, torch.Generator().manual_seed(seed))
    import random

    rng = random.Random(seed)
    return [sampler.space.sample(rng) for _ in range(n)]


def _graph_edit_distances(graphs: list[nx.DiGraph], pairs: list[tuple[int, int]]) -> list[float]:
    """Exact GED per pair (unit costs; a node substitution costs 1 when roles differ and an
    edge substitution 1 when ops differ), computed once per distinct pair of cells."""
    keys = [tuple(sorted((u, v, d["op"]) for u, v, d in g.edges(data=True))) for g in graphs]
    last = max(max(g.nodes) for g in graphs)
    for g in graphs:
        for node in g.nodes:
            g.nodes[node]["role"] = "in" if node == 0 else "out" if node == last else "mid"
    cache: dict[tuple, float] = {}
    out = []
    for i, j in pairs:
        key = tuple(sorted((keys[i], keys[j])))
        if key not in cache:
            cache[key] = 0.0 if keys[i] == keys[j] else graph_edit_distance(graphs[i], graphs[j])
        out.append(cache[key])
    return out


def graph_edit_distance(a: nx.DiGraph, b: nx.DiGraph) -> float:
    """networkx's GED (node ``role`` and edge ``op`` must match, else substitution costs 1).

    Small graphs with equal node counts (NB201 cells: 4 nodes) take a shortcut that gives
    the same value about 300x faster: deleting and re-inserting a node never beats
    substituting it, so the optimum is the cheapest bijection, of which there are n!.
    """
    import networkx as nx

    if len(a) != len(b) or len(a) > 6:
        return float(nx.graph_edit_distance(a, b, node_match=lambda x, y: x["role"] == y["role"],
                                            edge_match=lambda x, y: x["op"] == y["op"]))
    nodes_a, nodes_b = list(a.nodes), list(b.nodes)
    best = math.inf
    for perm in itertools.permutations(nodes_b):
        to_b = dict(zip(nodes_a, perm))
        cost = sum(a.nodes[u]["role"] != b.nodes[to_b[u]]["role"] for u in nodes_a)
        for u, v, d in a.edges(data=True):
            other = b.get_edge_data(to_b[u], to_b[v])
            cost += 1 if other is None or other["op"] != d["op"] else 0
        mapped = {(to_b[u], to_b[v]) for u, v in a.edges}
        cost += sum((u, v) not in mapped for u, v in b.edges)
        best = min(best, cost)
    return float(best)


def _finite(value: float) -> float | None:
    """NaN (a constant distance list) becomes None, which JSON can hold."""
    return None if value != value else float(value)
