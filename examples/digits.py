"""Write scikit-learn's 8×8 digits as a nasengine tensor dataset (not tied to CIFAR).

    python -m examples.digits runs/digits.pt
    nasengine run --config examples/tiny_cnn.toml --set data.dataset='"tensors"' \
        --set data.source='"runs/digits.pt"' --set data.augment=false

1,797 grey 8×8 images of 10 digits (pixel values 0..16, scaled to 0..255), split by a seeded
permutation into 1,437 train and 360 test images. Needs ``pip install nasengine[examples]``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from nasengine.data import save_tensors


def write_digits(path: str | Path, test: int = 360, seed: int = 0) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.as_tensor(digits.images * (255 / 16)).round().to(torch.uint8)[:, None]
    labels = torch.as_tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    train_idx, test_idx = order[test:], order[:test]
    return save_tensors(path, [str(d) for d in range(10)],
                        train=(images[train_idx], labels[train_idx]),
                        test=(images[test_idx], labels[test_idx]))


if __name__ == "__main__":
    print(write_digits(sys.argv[1] if len(sys.argv) > 1 else "runs/digits.pt"))
