"""PA&DA's path importance: choices drawn in proportion to their gradient norms.

After each step the supernet reports the gradient norm every sampled choice holds
(:meth:`~nasengine.supernet.base.Supernet.choice_grad_norms`); a running estimate
``G <- (G + s) / 2`` per choice, from 0 each epoch, becomes the next epoch's
distribution ``w * G / sum(G) + (1 - w) / K`` per decision.
"""
from __future__ import annotations

import copy
import math
import random
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import torch

from ..errors import ConfigError
from ..space import Sample, SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from ..supernet.base import Supernet

GRANULARITIES = ("op", "edge")
PARAM_FREE = ("zero", "mean")


class PathImportance:
    """Per-choice gradient-norm estimates and the path distribution built from them.

    Args:
        granularity: ``"op"``, one estimate per choice value shared by all decisions, or
            ``"edge"``, one per (decision, choice); None picks ``"op"`` where every decision
            offers the same choices.
        param_free: ``"zero"`` (choices without a gradient get 0) or ``"mean"`` (they get the
            mean estimate of their decision's choices that had one).
    """

    def __init__(self, space: SearchSpace, granularity: str | None, param_free: str) -> None:
        self.space = space
        self.granularity = _granularity(space, granularity)
        self.param_free = param_free
        self.norms: dict[Hashable, float] = {}   # running gradient norm per key, this epoch
        self.counts: dict[Hashable, int] = {}    # updates per key, this epoch
        self.probs: dict[str, list[float]] | None = None  # None: exactly uniform

    def observe(self, supernet: Supernet, arch: Sample) -> None:
        """Fold the step's per-choice gradient norms into the running estimates G.

        ``G <- (G + s) / 2`` for choices with a non-zero norm ``s``; at op granularity
        ``s`` is divided by the number of decisions that chose the op.
        """
        edge = self.granularity == "edge"
        norms = supernet.choice_grad_norms(arch, per_decision=edge)
        if not norms:
            return
        keys = list(norms)
        for key, s in zip(keys, torch.stack([norms[k] for k in keys]).tolist()):
            s /= 1 if edge else (sum(1 for a in arch.values() if a == key) or 1)
            if s > 0 and math.isfinite(s):
                self.norms[key] = (self.norms.get(key, 0.0) + s) / 2
                self.counts[key] = self.counts.get(key, 0) + 1

    def refresh(self, weight: float) -> tuple[dict[str, float], dict[str, int]]:
        """Start an epoch drawing with importance ``weight``; return (and reset) the last
        epoch's norms and update counts, by key name."""
        self.probs = self._distribution(weight)
        done = ({self.key_name(k): v for k, v in self.norms.items()},
                {self.key_name(k): v for k, v in self.counts.items()})
        self.norms, self.counts = {}, {}
        return done

    def _distribution(self, weight: float) -> dict[str, list[float]] | None:
        """``weight * G / sum(G) + (1 - weight) / K`` per decision; None when uniform."""
        if weight == 0:
            return None
        probs = {}
        for label, dec in self.space.decisions.items():
            norms = [self.norms.get(self._key(label, v), 0.0) for v in dec.values]
            if self.param_free == "mean":
                signal = [g for g in norms if g > 0]
                fill = sum(signal) / len(signal) if signal else 0.0
                norms = [g if g > 0 else fill for g in norms]
            total, k = sum(norms), len(norms)
            importance = [g / total for g in norms] if total > 0 else [1 / k] * k
            probs[label] = [weight * q + (1 - weight) / k for q in importance]
        return probs

    def sample(self, rng: random.Random) -> Sample:
        if self.probs is None:
            return self.space.sample(rng)
        return {label: rng.choices(dec.values, weights=self.probs[label])[0]
                for label, dec in self.space.decisions.items()}

    def probabilities(self) -> dict[str, dict[str, float]]:
        """The current probability of each choice, per decision (JSON-friendly keys)."""
        return {label: {str(v): (self.probs[label][i] if self.probs else 1 / len(dec.values))
                        for i, v in enumerate(dec.values)}
                for label, dec in self.space.decisions.items()}

    def reweight(self, weights: torch.Tensor, arch: Sample) -> None:
        """Multiply ``weights`` by ``U(a) / p(a)`` (in place; nothing while uniform)."""
        if self.probs is not None:
            for label, dec in self.space.decisions.items():
                weights /= len(dec.values) * self.probs[label][dec.index(arch[label])]

    def _key(self, label: str, value: Any) -> Hashable:
        return (label, value) if self.granularity == "edge" else value

    def key_name(self, key: Hashable) -> str:
        return f"{key[0]}:{key[1]}" if self.granularity == "edge" else str(key)

    def state_dict(self) -> dict[str, Any]:
        return {"norms": dict(self.norms), "counts": dict(self.counts),
                "path_probs": copy.deepcopy(self.probs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.norms, self.counts = dict(state["norms"]), dict(state["counts"])
        self.probs = copy.deepcopy(state["path_probs"])


def _granularity(space: SearchSpace, value: str | None) -> str:
    """``op`` only where every decision offers the same choices; ``None`` picks for the space."""
    shared = len({tuple(map(repr, d.values)) for d in space.decisions.values()}) == 1
    if value is None:
        return "op" if shared else "edge"
    if value == "op" and not shared:
        raise ConfigError("sampler.options.path_granularity=\"op\" pools one estimate per choice "
                          "value over all decisions, but this space's decisions have different "
                          "choices (values of unrelated decisions would merge); use \"edge\"")
    return value
