"""Split strategies: which decision a sub-supernet splits on, and into which groups.

Registered by name in :data:`SPLIT_STRATEGIES` (``fewshot.strategy`` in the config);
``fewshot.options`` become the strategy's keyword arguments.

* ``gm``: gradient matching plus a graph cut (GM-NAS, Hu, Wang et al., ICLR 2022).
* ``exhaustive``: one sub-supernet per choice of one decision (Few-Shot NAS, Zhao et
  al., ICML 2021).
"""
from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from ..supernet.base import Supernet
from ..supernet.base import has_choice_modules
from .gradients import AVERAGES, Batch, similarities
from .partition import PARTITIONERS, check_weights

SPLIT_STRATEGIES: Registry[SplitStrategy] = Registry("split strategy")


@dataclass
class SplitProposal:
    """Split ``decision`` into ``groups`` of its choice values; ``scores`` explain why."""

    decision: str
    groups: list[tuple[Any, ...]]
    scores: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class SplitStrategy(ABC):
    """Chooses how one sub-supernet splits; the tree does the splitting."""

    name = "strategy"
    batches = 0  # training batches :meth:`propose` wants

    @abstractmethod
    def propose(self, supernet: Supernet, candidates: Sequence[str], batches: Sequence[Batch],
                rng: random.Random) -> SplitProposal:
        """How ``supernet`` should split, given decisions it may split on (each >= 2 choices)."""

    def describe(self) -> dict[str, Any]:
        return {"strategy": self.name}

    def check(self, supernet: Supernet) -> None:
        """Raise before training if this strategy cannot work on ``supernet``."""


@SPLIT_STRATEGIES.register("exhaustive")
class ExhaustiveSplit(SplitStrategy):
    """One group per choice of the first candidate decision (Zhao et al. split edge 0)."""

    name = "exhaustive"

    def propose(self, supernet: Supernet, candidates: Sequence[str], batches: Sequence[Batch],
                rng: random.Random) -> SplitProposal:
        decision = candidates[0]
        return SplitProposal(decision, [(v,) for v in supernet.space.decisions[decision].values])


@SPLIT_STRATEGIES.register("gm")
class GradientMatchingSplit(SplitStrategy):
    """Split on the decision whose choices' shared-weight gradients disagree most.

    Args:
        partition: registered graph cut: ``balanced`` (default; GM-NAS's NB201 rule, 2 | 3
            of 5 ops), ``stoer_wagner`` or ``spectral``. Edge weights are (1 + cos) / 2, all
            in [0, 1], so cuts compare across decisions with the same number of choices;
            with mostly positive cosines the unconstrained min cut tends to cut off one choice.
        batches: training batches (one sampled base arch each) the gradients average over.
        params: fnmatch patterns of the parameter names (inside one sub-supernet) whose
            gradients are compared; ``["network.layers.*"]`` drops NB201's stem and
            classifier, as GM-NAS does.
        average: ``"gradients"`` (cosine of mean gradients) or ``"similarities"``
            (mean of per-batch cosines, the GM-NAS code).
    """

    name = "gm"

    def __init__(self, partition: str = "balanced", batches: int = 4,
                 params: Sequence[str] = ("*",), average: str = "gradients") -> None:
        self.partitioner = PARTITIONERS.get(partition)
        if not isinstance(batches, int) or batches < 1:
            raise ConfigError(f"fewshot.options.batches must be an integer >= 1, got {batches!r}")
        if average not in AVERAGES:
            raise ConfigError(f"fewshot.options.average must be one of {list(AVERAGES)}, "
                              f"got {average!r}")
        if isinstance(params, str) or not params:
            raise ConfigError(f"fewshot.options.params must be a non-empty list of name "
                              f"patterns, got {params!r}")
        self.partition, self.batches = partition, batches
        self.params, self.average = tuple(params), average

    def check(self, supernet: Supernet) -> None:
        """GM compares gradients of the weights outside a decision's own choice modules;
        without any, every weight would silently count as shared."""
        if not has_choice_modules(supernet):
            raise ConfigError(f"fewshot.strategy=\"gm\" needs the supernet to name the modules "
                              f"each choice trains, but {type(supernet).__name__}.choice_modules() "
                              "names none for any choice; implement it (the builder does), or use "
                              "fewshot.strategy=\"exhaustive\"")

    def propose(self, supernet: Supernet, candidates: Sequence[str], batches: Sequence[Batch],
                rng: random.Random) -> SplitProposal:
        start = time.perf_counter()
        sims = similarities(supernet, candidates, batches, rng, self.params, self.average)
        scores = {}
        for d in candidates:
            values = supernet.space.decisions[d].values
            cut = self.partitioner(check_weights((1.0 + sims[d].numpy()) / 2.0))
            scores[d] = {"cut": cut.cut, "groups": [[values[i] for i in g] for g in cut.groups],
                         "similarity": sims[d].tolist(), "choices": list(values)}
        best = min(candidates, key=lambda d: scores[d]["cut"])  # ties: the first candidate
        groups = [tuple(g) for g in scores[best]["groups"]]
        return SplitProposal(best, groups, scores, time.perf_counter() - start)

    def describe(self) -> dict[str, Any]:
        return {"strategy": self.name, "partition": self.partition, "batches": self.batches,
                "params": list(self.params), "average": self.average}


def create_strategy(name: str, options: dict[str, Any] | None = None) -> SplitStrategy:
    """The registered strategy ``name`` built with ``options``; bad options name the fix."""
    return SPLIT_STRATEGIES.create(name, options)
