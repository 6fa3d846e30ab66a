"""Complexity regions: a space's archs binned by their stand-alone network's params or FLOPs.

Measuring one arch builds its stand-alone network (~45 ms for NB201 at C=8, N=1), far too
slow to do per training step. Most cell spaces are *additive*: every decision's choice adds
its own params/FLOPs whatever the others are (NB201: each edge's op is one module at a fixed
resolution). :class:`LinearComplexity` measures the reference arch and every single-decision
change (1 + sum(K_d - 1) networks; 25 for NB201, ~2 s), then checks the sum against measured
archs. When it matches exactly, it *is* the complexity (any arch in microseconds, and a
differentiable expectation for the generator). When it does not (the macro space: a block
counts only below its stage's depth, and its kernel and width multiply), it is a least-squares
fit on measured archs, used only where an approximation is harmless (the generator's penalty);
regions then use exact, cached measurements. The fit sees each arch in its space's canonical
form when the space has one (inert decisions at their first choice, so they add nothing):
on the macro space that halves the fit's error (least squares on 120 archs: 0.21 of a
constant predictor's mean absolute error in canonical form, 0.44 without).

Nothing is cached on disk: the model and the region edges live in the sampler's state, so
a resumed run reuses them and a new run re-measures them in seconds.
"""
from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ConfigError
from ..space import Sample, SearchSpace

Measure = Callable[[Sample], Mapping[str, float]]
BINNINGS = ("quantile", "width")


@dataclass
class LinearComplexity:
    """``complexity(arch) = base + sum_d coef[d][choice index]`` (exact when ``exact``)."""

    metric: str
    base: float
    coef: dict[str, list[float]]
    choices: dict[str, list[Any]]
    exact: bool
    canonical: bool = False  # fitted on (and to be applied to) the space's canonical archs

    @classmethod
    def measure(cls, space: SearchSpace, measure: Measure, metric: str, rng: random.Random,
                checks: int = 12, fit_archs: int = 96) -> LinearComplexity:
        """Per-decision deltas from a reference arch; a least-squares fit if not additive."""
        reference = {label: dec.values[0] for label, dec in space.decisions.items()}
        base = _metric(measure(reference), metric)
        coef = {label: [0.0] + [_metric(measure({**reference, label: v}), metric) - base
                                for v in dec.values[1:]]
                for label, dec in space.decisions.items()}
        model = cls(metric, base, coef, _choices(space), exact=True)
        archs = [space.sample(rng) for _ in range(checks)]
        measured = [_metric(measure(a), metric) for a in archs]
        if all(abs(model(a) - m) <= 0.5 for a, m in zip(archs, measured)):
            return model
        archs += [space.sample(rng) for _ in range(fit_archs)]
        measured += [_metric(measure(a), metric) for a in archs[checks:]]
        canonical = getattr(space, "canonical", None)
        if canonical is not None:
            archs = [canonical(a) for a in archs]
        model = cls.fit(space, archs, measured, metric)
        model.canonical = canonical is not None
        return model

    @classmethod
    def fit(cls, space: SearchSpace, archs: Sequence[Sample], values: Sequence[float],
            metric: str, ridge: float = 1.0) -> LinearComplexity:
        """Ridge regression on one-hot features (each decision's first choice folded into base).

        The ridge term keeps the fit sane with fewer archs than features (min-norm least
        squares on 72 macro archs predicts no better than a constant; ridge 1: 0.26 of its error).
        """
        x = torch.stack([one_hot(space, a) for a in archs]).double()
        y = torch.tensor(values, dtype=torch.float64)
        x_mean, y_mean = x.mean(0), y.mean()
        xc = x - x_mean
        gram = xc.T @ xc + ridge * torch.eye(x.shape[1], dtype=torch.float64)
        w = torch.linalg.solve(gram, xc.T @ (y - y_mean)).tolist()
        base, coef, at = float(y_mean) - float(x_mean @ torch.tensor(w, dtype=torch.float64)), {}, 0
        for label, dec in space.decisions.items():
            row = w[at:at + len(dec.values)]
            base += row[0]
            coef[label] = [c - row[0] for c in row]
            at += len(dec.values)
        return cls(metric, base, coef, _choices(space), exact=False)

    def __call__(self, arch: Mapping[str, Any]) -> float:
        return self.base + sum(values[self.choices[label].index(arch[label])]
                               for label, values in self.coef.items())

    def expected(self, probs: Sequence[torch.Tensor]) -> torch.Tensor:
        """``base + sum_d <probs_d, coef_d>``: differentiable; one-hot rows give the exact sum."""
        total = probs[0].new_full(probs[0].shape[:-1], self.base)
        for p, values in zip(probs, self.coef.values()):
            total = total + p @ p.new_tensor(values)
        return total

    def smallest(self) -> Sample:
        """The arch the model says is smallest (the true smallest when ``exact``)."""
        return {label: self.choices[label][min(range(len(values)), key=values.__getitem__)]
                for label, values in self.coef.items()}

    def state(self) -> dict[str, Any]:
        return {"metric": self.metric, "base": self.base, "coef": self.coef,
                "choices": self.choices, "exact": self.exact, "canonical": self.canonical}


def _choices(space: SearchSpace) -> dict[str, list[Any]]:
    return {label: list(dec.values) for label, dec in space.decisions.items()}


def _metric(measured: Mapping[str, float], metric: str) -> float:
    if metric not in measured:
        raise ConfigError(f"complexity metric {metric!r} is not measured for this space; "
                          f"choose one of {sorted(measured)}")
    return float(measured[metric])


def one_hot(space: SearchSpace, arch: Mapping[str, Any]) -> torch.Tensor:
    """Concatenated one-hot rows of every decision (label order)."""
    rows = [torch.nn.functional.one_hot(torch.tensor(dec.index(arch[label])), len(dec.values))
            for label, dec in space.decisions.items()]
    return torch.cat(rows).float()


@dataclass
class Regions:
    """K half-open complexity intervals covering the real line: a partition of any space.

    ``edges`` are the K - 1 inner boundaries (region b is ``[edges[b-1], edges[b])``);
    ``prior[b]`` is the share of the space's archs in region b (estimated on ``values``, a
    uniform sample of the space), i.e. how often uniform sampling trains region b;
    ``low``/``high`` bound the sampled complexities (the generator's target range).
    """

    edges: list[float]
    prior: list[float]
    low: float
    high: float
    pools: list[list[int]] = field(default_factory=list)  # sampled arch ids per region

    @classmethod
    def build(cls, values: Sequence[float], k: int, binning: str,
              ids: Sequence[int] | None = None) -> Regions:
        """Quantile bins (equal shares of the space) or equal widths in log complexity."""
        if binning not in BINNINGS:
            raise ConfigError(f"sampler.options.binning must be one of {list(BINNINGS)}, "
                              f"got {binning!r}")
        ordered = sorted(set(values))
        if len(ordered) < 2:
            raise ConfigError("every sampled arch has the same complexity: complexity regions "
                              "need a space whose archs differ in params/FLOPs")
        if binning == "quantile":
            cuts = [_quantile(sorted(values), b / k) for b in range(1, k)]
        else:
            lo, hi = math.log(max(ordered[0], 1e-9)), math.log(max(ordered[-1], 1e-9))
            cuts = [math.exp(lo + (hi - lo) * b / k) for b in range(1, k)]
        edges = sorted({_between(ordered, c) for c in cuts} - {None})  # type: ignore[arg-type]
        regions = cls(edges, [], float(ordered[0]), float(ordered[-1]))
        members = [regions.region(v) for v in values]
        regions.prior = [members.count(b) / len(values) for b in range(len(edges) + 1)]
        ids = list(ids) if ids is not None else list(range(len(values)))
        regions.pools = [[i for i, b in zip(ids, members) if b == r] for r in range(len(edges) + 1)]
        return regions

    def __len__(self) -> int:
        return len(self.edges) + 1

    def region(self, value: float) -> int:
        return bisect.bisect_right(self.edges, value)

    def bounds(self, b: int) -> tuple[float, float]:
        """Region b's interval clipped to the sampled range (the generator's targets)."""
        lo = self.edges[b - 1] if b > 0 else self.low
        hi = self.edges[b] if b < len(self.edges) else self.high
        return lo, hi

    def state(self) -> dict[str, Any]:
        return {"edges": self.edges, "prior": self.prior, "low": self.low, "high": self.high,
                "pools": self.pools}


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _between(ordered: Sequence[float], cut: float) -> float | None:
    """A boundary strictly between two distinct sampled values, at or below ``cut``.

    Ties are never split: every value ``>= cut`` starts the region above. None when the cut
    would leave a region with no sampled arch (below the smallest value).
    """
    i = bisect.bisect_left(ordered, cut)
    if i == 0 or i >= len(ordered):
        return None
    return (ordered[i - 1] + ordered[i]) / 2
