"""Ranking over training: the Kendall tau of a small fixed arch set every k epochs.

Researchers who study supernet training ask how the ranking evolves, not only where it
ends. :class:`RankTracker` is an epoch-end trainer callback (``evaluate.track_every``):
it scores ``evaluate.track_archs`` seeded archs under the run's own evaluation protocol
and returns ``{"track": {...}}`` for that epoch's ``metrics.jsonl`` record.

It must not change what training produces: it runs inside ``torch.random.fork_rng``
(every global random stream is restored), the BN protocols restore the buffers they touch,
and the supernet's train/eval mode is put back, so a tracked run's weights equal an
untracked run's bit for bit (tests/test_tracking.py).
"""
from __future__ import annotations

import contextlib
import random
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch

from .errors import ConfigError
from .evaluate import Evaluator
from .metrics import kendall_tau
from .space import Sample
from .supernet.base import Supernet

if TYPE_CHECKING:  # pragma: no cover
    from .api import Pipeline


class RankTracker:
    """Scores a fixed arch set every ``every`` epochs and reports its rank correlation."""

    def __init__(self, every: int, archs: list[Sample], true: list[float],
                 evaluator: Callable[[], Evaluator], device: torch.device,
                 workers: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"evaluate.track_every must be a whole number of epochs >= 1 "
                              f"(0 turns tracking off), got {every!r}")
        if len(archs) < 3:
            raise ConfigError(f"evaluate.track_archs={len(archs)} is too few to rank; use >= 3")
        self.every, self.archs, self.true = every, archs, true
        self._make_evaluator, self._evaluator = evaluator, None
        self.device, self.workers = device, workers  # forked scorers, as the ranking's

    @classmethod
    def from_pipeline(cls, pipe: Pipeline) -> RankTracker:
        """The tracker ``pipe.config.evaluate`` asks for (NB201-style ground truth needed)."""
        ec = pipe.config.evaluate
        ground_truth = pipe.ground_truth
        truth = ground_truth.accuracy if ground_truth else None
        if truth is None:
            raise ConfigError(f"evaluate.track_every needs a ground truth to rank against; the "
                              f"{pipe.config.supernet.space!r} space has none (set it to 0)")
        n = min(ec.track_archs, len(pipe.space))
        ids = random.Random(ec.arch_seed).sample(range(len(pipe.space)), n)
        archs = [pipe.space.decode(i) for i in ids]
        true = [truth(pipe.space.format(a)) for a in archs]
        return cls(ec.track_every, archs, true, pipe.evaluator, pipe.device, ec.workers)

    def __call__(self, epoch: int, supernet: Supernet) -> dict[str, Any] | None:
        if (epoch + 1) % self.every:
            return None
        start = time.perf_counter()
        with self._untouched(supernet):
            if self._evaluator is None:  # built on first use, under the same RNG guard
                self._evaluator = self._make_evaluator()
            self._evaluator.supernet = supernet  # a reshaped (few-shot) supernet is the same object
            scores = self._evaluator.score_many(self.archs, progress=False,
                                                workers=self.workers)
        return {"track": {"kendall_tau": kendall_tau(scores, self.true), "archs": len(self.archs),
                          "mean_score": sum(scores) / len(scores),
                          "seconds": time.perf_counter() - start}}

    @contextlib.contextmanager
    def _untouched(self, supernet: Supernet) -> Iterator[None]:
        """Restore every random stream and the supernet's mode afterwards."""
        devices = [self.device] if self.device.type == "cuda" else []
        was_training = supernet.training
        with torch.random.fork_rng(devices=devices):
            state = random.getstate()
            try:
                yield
            finally:
                random.setstate(state)
                supernet.train(was_training)


def read_track(records: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """(epoch, Kendall tau) of every tracked epoch in a run's ``metrics.jsonl`` records."""
    return [(r["epoch"], r["track"]["kendall_tau"]) for r in records if "track" in r]
