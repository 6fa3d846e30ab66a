"""Any image classification set as one tensor file, and the dataset registry.

``data.dataset = "tensors"`` with ``data.source = "file.pt"`` reads a ``torch.save``d dict
``{"classes": [...], "train": {"images", "labels"}, "test": {"images", "labels"}}`` with
uint8 ``N×C×H×W`` images (C = 1 or 3; grey is repeated to RGB, the pipeline's format) and
int64 labels. :func:`save_tensors` writes one; ``examples/digits.py`` does so for
scikit-learn's 8×8 digits. Loaded with ``weights_only=True``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import DataError
from ..registry import Registry
from .cifar import load_cifar
from .dataset import ImageDataset
from .readers import SPLITS

DATASETS: Registry[ImageDataset] = Registry("dataset")
"""``data.dataset`` name -> ``loader(source, split)``."""

for _name in ("cifar10", "cifar100"):
    DATASETS.register(_name)(lambda source, split, name=_name: load_cifar(source, split, name))


def load_dataset(dataset: str, source: str | Path | None, split: str) -> ImageDataset:
    """One split of the registered ``dataset`` (CIFAR-10/100 or ``tensors``)."""
    loader: Callable[..., ImageDataset] = DATASETS.get(dataset)
    return loader(source=source, split=split)


@DATASETS.register("tensors")
def load_tensors(source: str | Path | None, split: str) -> ImageDataset:
    """One split of a tensor file written by :func:`save_tensors`."""
    if source is None or not Path(source).is_file():
        raise DataError(f"data.dataset=\"tensors\" reads data.source, a .pt file; got {source!r}. "
                        "Write one with nasengine.data.save_tensors (examples/digits.py does)")
    try:
        data = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or not a torch file
        raise DataError(f"{source} is not a readable tensor file ({type(exc).__name__}: {exc}); "
                        "rewrite it with nasengine.data.save_tensors") from None
    part = data.get(split) if isinstance(data, dict) else None
    if part is None or "classes" not in data:
        raise DataError(f"{source} holds no {split!r} split or no 'classes'; expected keys "
                        f"'classes', {', '.join(repr(s) for s in SPLITS)}")
    images = part["images"]
    if images.dim() == 4 and images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    try:
        return ImageDataset(images, part["labels"], list(data["classes"]))
    except ValueError as exc:
        raise DataError(f"{source}, split {split!r}: {exc}") from None


def save_tensors(path: str | Path, classes: list[str], **splits: tuple[torch.Tensor, Any]) -> Path:
    """Write ``{split: (uint8 images N×C×H×W, labels)}`` in the format :func:`load_tensors` reads."""
    data: dict[str, Any] = {"classes": list(classes)}
    for split, (images, labels) in splits.items():
        data[split] = {"images": images.to(torch.uint8).contiguous(),
                       "labels": torch.as_tensor(labels, dtype=torch.int64)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path
