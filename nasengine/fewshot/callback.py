"""Few-shot splitting as a trainer callback: it owns the I/O the tree must not do.

At each epoch end it asks the tree whether its schedule splits now, draws the first
batches of the epoch that just ended for the strategy, lets the tree split, and writes
the tree's report into the run folder. The trainer then hands the new parameters the
optimizer state of the ones they were copied from.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..train import EpochEnd, ParamLineage
from .report import write_tree
from .tree import FewShotSupernet


class FewShotSplitting:
    """Grows ``tree`` on its schedule (a :class:`~nasengine.train.EpochAware` callback)."""

    def __init__(self, tree: FewShotSupernet) -> None:
        self.tree = tree

    def on_epoch_end(self, end: EpochEnd) -> ParamLineage | None:
        level, strategy = self.tree.split_level(end.epoch), self.tree.strategy
        if level is None or strategy is None:
            return None
        batches = first_batches(end.loader, strategy.batches)
        lineage = self.tree.split_leaves(end.epoch, level, batches)
        if end.out_dir is not None:
            write_tree(self.tree.tree_data(), Path(end.out_dir))
        return lineage


def first_batches(loader: Any, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``n`` ``(x, y)`` batches of ``loader`` (extra items such as indices dropped)."""
    batches: list[tuple[torch.Tensor, torch.Tensor]] = []
    if n <= 0:
        return batches
    for batch in loader:
        if len(batches) >= n:
            break
        batches.append((batch[0], batch[1]))
    return batches
