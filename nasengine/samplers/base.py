"""The sampler role: which subnet (and which data) trains at each step.

A sampler proposes an architecture before each step and may learn from the
step afterwards (:meth:`Sampler.observe`). The trainer never branches on the
kind of sampler: PA&DA, ShiftNAS, ENAS or few-shot routing all plug in here.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..data.loader import IndexSampler
from ..registry import Registry
from ..space import Sample, SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from ..supernet.base import Supernet

@dataclass
class StepFeedback:
    """What a sampler may learn from after one optimisation step.

    ``per_sample_loss``, ``logits``, ``targets`` and ``indices`` serve data
    importance (PA&DA); ``supernet`` gives access to the gradients of the ops
    that ``arch`` used (read after backward, before the optimiser zeroes them).
    """

    step: int
    epoch: int
    arch: Sample
    loss: float
    logits: torch.Tensor
    targets: torch.Tensor
    indices: torch.Tensor | None
    supernet: Supernet


class Sampler(ABC):
    """Base class: one abstract method plus optional hooks with do-nothing defaults."""

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)

    @abstractmethod
    def sample(self, step: int) -> Sample:
        """The architecture to train at ``step``."""

    def observe(self, feedback: StepFeedback) -> None:
        """Learn from the step just taken (default: nothing)."""

    def on_train_start(self, epochs: int, steps_per_epoch: int) -> None:
        """The run's length, before its first step, for schedules (default: nothing)."""

    def on_epoch_start(self, epoch: int) -> None:
        """Refresh schedules at epoch boundaries (default: nothing)."""

    def loss_weights(self, arch: Sample, indices: torch.Tensor | None) -> torch.Tensor | None:
        """Per-example loss factors for this step (importance re-weighting; default: none)."""
        return None

    def index_sampler(self) -> IndexSampler | None:
        """Data-order override for importance data sampling (default: uniform shuffle)."""
        return None

    def epoch_log(self) -> dict[str, Any] | None:
        """What the sampler did this epoch (e.g. its distributions), stored with the epoch's
        metrics in ``metrics.jsonl`` so that sampling can be studied over time (default: none)."""
        return None

    def plot_log(self, records: list[dict[str, Any]], path: Path) -> bool:
        """Draw the :meth:`epoch_log` records to ``path``; False when there is nothing to draw."""
        return False

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the exact sample stream."""
        return {"seed": self.seed, "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.rng.setstate(state["rng"])


SAMPLERS: Registry[Sampler] = Registry("sampler")
