"""The sampler role: which subnet (and which data) trains at each step.

A sampler proposes an architecture before each step and may learn from the
step afterwards (:meth:`Sampler.observe`). The trainer never branches on the
kind of sampler: PA&DA, ShiftNAS, ENAS or few-shot routing all plug in here.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..data.loader import IndexSampler
from ..errors import ConfigError
from ..registry import Registry
from ..validation import Rule, check_rule
from ..space import Sample, SearchSpace

if TYPE_CHECKING:  # pragma: no cover
    from ..supernet.base import Supernet

@dataclass
class StepFeedback:
    """What a sampler may learn from after one optimisation step.

    ``logits``, ``targets`` and ``indices`` serve data importance (PA&DA); the
    ``supernet`` still holds the step's gradients (read them through
    :meth:`~nasengine.supernet.base.Supernet.choice_grad_norms`, before the optimiser
    zeroes them at the next step).
    """

    arch: Sample
    loss: float
    logits: torch.Tensor
    targets: torch.Tensor
    indices: torch.Tensor | None
    supernet: Supernet


Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class SamplerContext:
    """What a sampler that learns from the supernet itself may use (ENAS, ShiftNAS).

    The trainer hands it over once, before the first step (:meth:`Sampler.bind`), so
    samplers need no special case in the trainer. ``valid_batch(k)`` is the k-th batch of
    the held-out split of the *training* set (``data.valid_images``; never test images):
    a pure function of ``k``, so a sampler that counts its draws in its state resumes
    exactly. ``complexity(arch)`` gives the stand-alone network's params and FLOPs at the
    run's own width and depth (cached). ``proxy_scores(archs)`` is the run's training-free
    prior of a set of archs, one score each, higher predicted better (the ``proxies.hybrid``
    members by log-rank sum over the set, from the cached proxy table).
    """

    supernet: Supernet
    device: torch.device
    complexity: Callable[[Sample], dict[str, float]]
    valid_batch: Callable[[int], Batch] | None = None
    valid_batches: int = 0  # distinct batches in the split (k cycles through them)
    extra: dict[str, Any] = field(default_factory=dict)
    proxy_scores: Callable[[Sequence[Sample]], Sequence[float]] | None = None

    def require_valid(self, who: str) -> Callable[[int], Batch]:
        """The validation stream, or the error that says how to turn it on."""
        if self.valid_batch is None:
            raise ConfigError(f"sampler {who!r} scores archs on held-out training images; "
                              "set data.valid_images (e.g. --set data.valid_images=5000)")
        return self.valid_batch

    def require_proxies(self, who: str) -> Callable[[Sequence[Sample]], Sequence[float]]:
        """The training-free prior, or the error that says where it comes from."""
        if self.proxy_scores is None:
            raise ConfigError(f"sampler {who!r} ranks archs by training-free proxies, which "
                              "this context does not provide; train it through nasengine's "
                              "trainer (api.train / nasengine train), which scores them as "
                              "[proxies] says")
        return self.proxy_scores

    @torch.no_grad()
    def score(self, arch: Sample, batch: Batch) -> tuple[float, float]:
        """(top-1 fraction, mean loss) of ``arch`` on ``batch``.

        BatchNorm uses the batch's own statistics (the evaluator's ``batch`` protocol:
        running buffers untouched), and the supernet's train/eval mode is restored.
        """
        from ..evaluate import BatchStatistics

        x, y = batch
        was_training = self.supernet.training
        self.supernet.eval()
        try:
            with BatchStatistics().scoring(self.supernet, arch):
                logits = self.supernet(x, arch).float()
        finally:
            self.supernet.train(was_training)
        loss = torch.nn.functional.cross_entropy(logits, y).item()
        return (logits.argmax(1) == y).float().mean().item(), loss


class Sampler(ABC):
    """Base class: one abstract method plus optional hooks with do-nothing defaults."""

    #: whether :meth:`observe` may see steps that trained archs this sampler did not draw
    #: (a sampler composed under another, e.g. ``proxy_prior``); False for a learner whose
    #: update assumes every trained arch was its own draw (on-policy), which is then refused
    accepts_foreign_archs: bool = True
    #: run-config fields outside ``sampler`` that decide what it draws (dotted paths), which a
    #: study keeps in a cell's identity even where it ignores their section (``proxies``)
    reads_config: tuple[str, ...] = ()

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)

    @abstractmethod
    def sample(self) -> Sample:
        """The architecture to train at the next step."""

    def observe(self, feedback: StepFeedback) -> None:
        """Learn from the step just taken (default: nothing)."""

    def on_train_start(self, epochs: int) -> None:
        """The run's length in epochs, before its first step, for schedules (default: nothing)."""

    def bind(self, context: SamplerContext) -> None:
        """Receive the supernet, validation stream and complexity before training starts
        (and again after a resume); samplers that learn from the supernet keep it."""

    def on_epoch_start(self, epoch: int) -> None:
        """Refresh schedules at epoch boundaries (default: nothing)."""

    def on_epoch_end(self, epoch: int) -> None:
        """A learning phase of the sampler's own after each epoch, before the checkpoint
        (ENAS's controller steps on validation batches; default: nothing)."""

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

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the exact sample stream."""
        return {"seed": self.seed, "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.rng.setstate(state["rng"])


SAMPLERS: Registry[Sampler] = Registry("sampler")


def check_option_ranges(rules: Mapping[str, Rule], **values: Any) -> None:
    """The ranges of a sampler's options, in the validation layer's words (their types are
    checked against the signature by :meth:`SAMPLERS.create <nasengine.registry.Registry.create>`)."""
    for name, value in values.items():
        check_rule(f"sampler.options.{name}", value, rules[name])
