"""A reproducible, resumable batch iterator over device-resident tensors.

The uint8 dataset is copied to the device once; a batch is an ``index_select``
plus one :class:`BatchAugment` call there. No worker processes, no pinned
host buffers, no per-batch transfer.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from .augment import BatchAugment
from .dataset import ImageDataset

IndexSampler = Callable[[int, torch.Generator], torch.Tensor]
"""(dataset size, generator) -> the epoch's stream of example indices."""

_ORDER, _AUGMENT = 0, 1  # independent random streams within one epoch


def epoch_generator(seed: int, epoch: int, stream: int,
                    device: torch.device | str = "cpu") -> torch.Generator:
    """A generator that is a pure function of (seed, epoch, stream).

    Mixing through numpy's SeedSequence keeps nearby (seed, epoch) pairs far apart.
    """
    words = np.random.SeedSequence([seed % 2**63, epoch, stream]).generate_state(2, np.uint32)
    return torch.Generator(device=device).manual_seed((int(words[0]) << 32) | int(words[1]))


class TensorLoader:
    """Iterates ``(x, y)`` batches: x float (augmented, normalised), y int64 labels.

    Epoch ``e``'s order and augmentation draws depend only on ``(seed, e)``: call
    :meth:`set_epoch` before each epoch and a resumed run sees exactly the batches
    the uninterrupted run saw. Iterating twice without it repeats the epoch.

    Args:
        index_sampler: ``(n, generator) -> indices``, the epoch's index stream (any
            length, repeats allowed): how an importance data sampler plugs in.
            Without it the order is a seeded ``randperm`` (or ``arange`` if not
            ``shuffle``).
        return_indices: also yield the batch's dataset indices as a third item.
            Done anyway for epochs driven by an index sampler, which needs them to
            attribute per-sample losses.
    """

    def __init__(self, dataset: ImageDataset, batch_size: int, *, shuffle: bool = True,
                 augment: BatchAugment | None = None, drop_last: bool = True, seed: int = 0,
                 device: str | torch.device = "cpu", channels_last: bool = False,
                 index_sampler: IndexSampler | None = None, return_indices: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.images = dataset.images.to(self.device)
        self.labels = dataset.labels.to(self.device)
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.drop_last, self.seed, self.channels_last = drop_last, seed, channels_last
        self.index_sampler, self.return_indices = index_sampler, return_indices
        self.epoch = 0
        self._epoch_sampler: IndexSampler | None = None
        self._order: torch.Tensor | None = None

    def set_epoch(self, epoch: int, index_sampler: IndexSampler | None = None) -> None:
        """Select epoch ``epoch``; ``index_sampler`` overrides the constructor's for it."""
        self.epoch, self._epoch_sampler, self._order = epoch, index_sampler, None

    @property
    def _sampler(self) -> IndexSampler | None:
        return self.index_sampler if self._epoch_sampler is None else self._epoch_sampler

    def order(self) -> torch.Tensor:
        """This epoch's index stream (int64, on the loader's device)."""
        if self._order is None:
            n = self.images.shape[0]
            gen = epoch_generator(self.seed, self.epoch, _ORDER)
            if self._sampler is not None:
                order = _checked(self._sampler(n, gen), n)
            else:
                order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
            self._order = order.to(self.device)
        return self._order

    def __len__(self) -> int:
        n = len(self.order()) if self._sampler is not None else self.images.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        gen = epoch_generator(self.seed, self.epoch, _AUGMENT, self.device)
        with_indices = self.return_indices or self._sampler is not None
        for i in range(len(self)):
            x, y, idx = self.batch_at(i, gen)
            yield (x, y, idx) if with_indices else (x, y)

    def batch_at(self, i: int, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x, y, indices) of this epoch's ``i``-th batch; augmentation draws from
        ``generator`` (iterating passes the epoch's, so that batches follow one stream)."""
        bs = self.batch_size
        idx = self.order()[i * bs:(i + 1) * bs]
        x = self.images.index_select(0, idx)
        x = self.augment(x, generator) if self.augment is not None else x.float().div_(255)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.labels.index_select(0, idx), idx


def _checked(indices: torch.Tensor, n: int) -> torch.Tensor:
    """Reject an index stream that would fail deep inside ``index_select``."""
    if not isinstance(indices, torch.Tensor) or indices.dim() != 1:
        raise ValueError("index_sampler must return a 1-D tensor of dataset indices")
    indices = indices.long().cpu()
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= n):
        raise ValueError(f"index_sampler returned indices outside [0, {n})")
    return indices
