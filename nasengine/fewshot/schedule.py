"""When a few-shot run splits: after a one-shot warm-up, then at regular intervals.

The total number of training epochs stays ``train.epochs`` whatever the schedule, so
a split run and a one-shot run of the same config cost the same number of steps.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..validation import RULES, check_rule, check_type


@dataclass(frozen=True)
class SplitSchedule:
    """Split after epochs ``warmup, warmup + every, ...`` (``splits`` levels in all)."""

    warmup_epochs: int = 1
    split_every: int = 1
    splits: int = 1

    def __post_init__(self) -> None:
        for name in ("warmup_epochs", "split_every", "splits"):
            where = f"fewshot.{name}"
            check_type(where, getattr(self, name), int)
            check_rule(where, getattr(self, name), RULES[where])

    @property
    def split_epochs(self) -> list[int]:
        """Numbers of finished epochs after which a split level happens."""
        return [self.warmup_epochs + k * self.split_every for k in range(self.splits)]

    def level_after(self, epochs_done: int) -> int | None:
        """The split level (0-based) due once ``epochs_done`` epochs have finished, if any."""
        points = self.split_epochs
        return points.index(epochs_done) if epochs_done in points else None

    def check(self, epochs: int) -> None:
        """Every split must leave at least one epoch to train the new sub-supernets."""
        last = self.split_epochs[-1]
        if last >= epochs:
            raise ConfigError(
                f"the last split comes after epoch {last} but training has only {epochs} "
                f"epochs; lower fewshot.warmup_epochs, fewshot.split_every or fewshot.splits, "
                f"or raise train.epochs")
