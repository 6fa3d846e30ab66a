"""Training-free proxies as a prior for supernet training: a base sampler plus a shortlist.

In the hybrid ranking the supernet's job is to order the proxies' top candidates, and that
is where it errs most (benchmarks/RESULTS.md §8.5: P@top-5% 0.3). So this sampler spends a
fixed share of the steps on exactly those archs: before the first step it draws a pool of
archs, scores it with the run's training-free prior (the ``proxies.hybrid`` members, default
AZ-NAS's ensemble, by log-rank sum, from the cached proxy table:
:attr:`SamplerContext.proxy_scores`) and keeps the top fraction. Each step then trains, with
probability ``share``, a shortlisted arch drawn uniformly, else what the base sampler draws.

The rule was fixed before any measurement (``share`` 0.5, the top 10% of 500 archs) and never
sees the ground truth. The pool is drawn with its own seed, ``pool_seed``, never the
evaluation sample's ``evaluate.arch_seed``: the shortlist must not be the evaluation sample's
top, or the supernet would train the very archs its ranking is judged on.

Composition, not a flag: the base is any registered sampler, built with ``base_options``.
Every step's feedback goes to the base, whichever sampler drew the arch (PA&DA learns the
gradient norms of the path that trained; ENAS learns from validation batches after the
epoch; ShiftNAS counts a step's loss in the region of the arch that trained), and data
order (PA&DA's data importance), loss weights and the epoch hooks stay the base's. (With
PA&DA's ``reweight=True`` the path factors correct for the base's distribution, not the
mixture.) A base whose learning assumes every trained arch was its own draws
(:attr:`Sampler.accepts_foreign_archs` False) is refused. With ``share = 0`` the stream and
the base's state are exactly the base sampler's.
"""
from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..proxies.hybrid import shortlist_size
from ..space import Sample, SearchSpace
from ..validation import Rule, at_least, between
from .base import (SAMPLERS, IndexSampler, Sampler, SamplerContext, StepFeedback,
                   check_option_ranges)

LOG_KEY = "proxy_prior"

#: ranges of the options (their types are checked from the signature by ``SAMPLERS.create``)
OPTION_RULES: dict[str, Rule] = {
    "pool": at_least(2), "share": between(0, 1), "pool_seed": at_least(0),
    "shortlist": Rule("a value in (0, 1]", lambda v: 0 < v <= 1)}


@SAMPLERS.register("proxy_prior")
class ProxyPriorSampler(Sampler):
    """A base sampler whose steps are shared with the proxies' shortlist.

    Args:
        base: the registered sampler that draws the other steps (default PA&DA).
        base_options: its options, as ``sampler.options`` would give them.
        pool: archs drawn and scored by the proxies before the first step.
        shortlist: the fraction of the pool kept, best by the proxies (at least one arch).
        share: the probability that a step trains a shortlisted arch.
        pool_seed: seeds the pool; keep it apart from ``evaluate.arch_seed``.
    """

    reads_config = tuple(f"proxies.{k}" for k in ("hybrid", "ensemble", "seed", "batch_size",
                                                     "channels", "cells"))

    def __init__(self, space: SearchSpace, seed: int = 0, *, base: str = "pada",
                 base_options: dict[str, Any] | None = None, pool: int = 500,
                 shortlist: float = 0.1, share: float = 0.5, pool_seed: int = 1000) -> None:
        super().__init__(space, seed)
        check_option_ranges(OPTION_RULES, pool=pool, shortlist=shortlist, share=share,
                            pool_seed=pool_seed)
        self.base = SAMPLERS.create(base, base_options, space=space, seed=seed)
        if not self.base.accepts_foreign_archs:
            raise ConfigError(f"sampler {base!r} learns only from the archs it drew itself, so "
                              "it cannot share steps with the proxies' shortlist; choose "
                              f"another sampler.options.base, e.g. \"pada\"")
        self.rng = random.Random(f"proxy_prior:{seed}")  # not the base's stream
        self.pool, self.fraction, self.share, self.pool_seed = pool, shortlist, share, pool_seed
        self.shortlist: list[int] | None = None  # arch ids, best first; set by bind
        self.pool_seconds = 0.0
        self._steps = self._hits = 0  # this epoch
        self._log: list[dict[str, Any]] = []

    # -- the shortlist ---------------------------------------------------------------
    def bind(self, context: SamplerContext) -> None:
        """Bind the base first (its own requirements fail before the proxies run), then
        score the pool once (a resumed run keeps its checkpointed shortlist)."""
        self.base.bind(context)
        if self.shortlist is None:
            self.shortlist = self.select(context.require_proxies("proxy_prior"))

    def draw_pool(self) -> list[int]:
        """``pool`` distinct arch ids drawn with ``pool_seed`` (the whole space if smaller)."""
        n = min(self.pool, len(self.space))
        return random.Random(self.pool_seed).sample(range(len(self.space)), n)

    def select(self, score: Callable[[Sequence[Sample]], Sequence[float]]) -> list[int]:
        """The top ``shortlist`` fraction of the pool by ``score`` (higher is better; ties
        keep pool order), best first."""
        ids = self.draw_pool()
        start = time.perf_counter()
        scores = np.asarray(score([self.space.decode(i) for i in ids]), dtype=np.float64)
        self.pool_seconds = time.perf_counter() - start
        keep = shortlist_size(self.fraction, len(ids))  # the hybrid's "top q of n"
        return [ids[i] for i in np.argsort(-scores, kind="stable")[:keep]]

    # -- drawing ------------------------------------------------------------------------
    def sample(self) -> Sample:
        """A shortlisted arch with probability ``share``, else the base's draw (before
        :meth:`bind` there is no shortlist yet: the base's draw)."""
        self._steps += 1
        if self.shortlist and self.rng.random() < self.share:
            self._hits += 1
            return self.space.decode(self.rng.choice(self.shortlist))
        return self.base.sample()

    # -- the base's hooks ------------------------------------------------------------------
    def observe(self, feedback: StepFeedback) -> None:
        self.base.observe(feedback)

    def on_train_start(self, epochs: int) -> None:
        self.base.on_train_start(epochs)

    def on_epoch_start(self, epoch: int) -> None:
        if self.shortlist is None:
            raise ConfigError("the proxy_prior sampler has no shortlist: the trainer binds it "
                              "(Sampler.bind) before the first step; train it through "
                              "nasengine's trainer (api.train / nasengine train)")
        self.base.on_epoch_start(epoch)
        self._steps = self._hits = 0

    def on_epoch_end(self, epoch: int) -> None:
        self.base.on_epoch_end(epoch)
        self._log.append({"epoch": epoch, "steps": self._steps, "shortlist_steps": self._hits,
                          "shortlist_fraction": self._hits / max(self._steps, 1),
                          "shortlist": len(self.shortlist or ()),
                          "pool": min(self.pool, len(self.space)),
                          "pool_seconds": self.pool_seconds})

    def loss_weights(self, arch: Sample, indices: torch.Tensor | None) -> torch.Tensor | None:
        return self.base.loss_weights(arch, indices)

    def index_sampler(self) -> IndexSampler | None:
        return self.base.index_sampler()

    # -- logs and state ------------------------------------------------------------------------
    def epoch_log(self) -> dict[str, Any] | None:
        """The base's record, with this sampler's under ``proxy_prior``."""
        base = self.base.epoch_log()
        if not self._log:
            return base
        return {**(base or {}), LOG_KEY: dict(self._log[-1])}

    def plot_log(self, records: list[dict[str, Any]], path: Path) -> bool:
        base = [{k: v for k, v in r.items() if k != LOG_KEY} for r in records]
        return self.base.plot_log([r for r in base if r], path)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "base": self.base.state_dict(),
                "shortlist": None if self.shortlist is None else list(self.shortlist),
                "pool_seconds": self.pool_seconds, "counts": (self._steps, self._hits),
                "log": copy.deepcopy(self._log)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.base.load_state_dict(state["base"])
        self.shortlist = None if state["shortlist"] is None else list(state["shortlist"])
        self.pool_seconds = state["pool_seconds"]
        self._steps, self._hits = state["counts"]
        self._log = copy.deepcopy(state["log"])
