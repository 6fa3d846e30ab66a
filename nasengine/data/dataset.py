"""An in-memory image set and the NB201-style train/valid split.

CIFAR fits in memory as uint8 (CIFAR-10 train: 150 MB), so the whole set is one
tensor: batching is an index, not a Python loop over files.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

Indices = torch.Tensor | Sequence[int]


@dataclass
class ImageDataset:
    """Images as one uint8 ``N×3×H×W`` tensor, int64 labels and the class names.

    ``labels[i]`` indexes ``classes``; the constructor checks the invariants once so
    that loaders and augmentations can rely on them without re-checking.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __post_init__(self) -> None:
        x, y = self.images, self.labels
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"images must be uint8 N×3×H×W, got {x.dtype} {tuple(x.shape)}")
        if y.dtype != torch.int64 or y.shape != (x.shape[0],):
            raise ValueError(f"labels must be int64 of shape ({x.shape[0]},), "
                             f"got {y.dtype} {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(self.classes)):
            raise ValueError(f"labels must lie in [0, {len(self.classes)}), the class count")
        self.images = x.contiguous()
        self.classes = list(self.classes)

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, indices: Indices) -> ImageDataset:
        """A copy holding only ``indices`` (in that order)."""
        idx = torch.as_tensor(indices, dtype=torch.int64, device=self.images.device)
        return ImageDataset(self.images.index_select(0, idx), self.labels.index_select(0, idx),
                            self.classes)

    def class_counts(self) -> torch.Tensor:
        """Images per class, indexed by label."""
        return torch.bincount(self.labels, minlength=len(self.classes))

    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the pixels scaled to [0, 1].

        Computed exactly from a 256-bin histogram per channel, so it needs no float
        copy of the data (a float copy of CIFAR-10 train would be 600 MB).
        """
        values = torch.arange(256, dtype=torch.float64) / 255
        means, stds = [], []
        for c in range(self.images.shape[1]):
            hist = torch.bincount(self.images[:, c].reshape(-1).cpu(), minlength=256)
            p = hist.double() / max(int(hist.sum()), 1)
            mean = float((p * values).sum())
            means.append(mean)
            stds.append(float((p * (values - mean) ** 2).sum()) ** 0.5)
        return tuple(means), tuple(stds)


def split_train_valid(ds: ImageDataset, valid_fraction: float = 0.5, seed: int = 0,
                      stratified: bool = True) -> tuple[ImageDataset, ImageDataset]:
    """Seeded train/valid split, NB201 ``cifar10-valid`` style (25k/25k by default).

    Sources group images by class, so both halves are drawn from a seeded shuffle
    and returned shuffled. ``stratified`` keeps every class's share equal in both
    halves (``round(n_class * valid_fraction)`` go to valid).
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must lie strictly between 0 and 1, got {valid_fraction}")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(ds), generator=gen)
    if stratified:
        in_valid = torch.zeros(len(ds), dtype=torch.bool)
        labels = ds.labels.cpu()[perm]
        for c in range(len(ds.classes)):
            members = perm[labels == c]
            in_valid[members[: round(len(members) * valid_fraction)]] = True
        valid_idx, train_idx = perm[in_valid[perm]], perm[~in_valid[perm]]
    else:
        n_valid = round(len(ds) * valid_fraction)
        valid_idx, train_idx = perm[:n_valid], perm[n_valid:]
    return ds.subset(train_idx), ds.subset(valid_idx)
