"""Smoke test on the real CIFAR-10 tarball (skipped, saying why, when it is absent)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nasengine.data import CIFAR10_CLASSES, load_cifar


@pytest.mark.slow
def test_real_cifar10_test_split(cifar10_path: Path) -> None:
    ds = load_cifar(cifar10_path, split="test")  # decodes 10k JPEGs (~3 s), private cache
    assert ds.images.shape == (10_000, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.classes == list(CIFAR10_CLASSES)
    assert ds.class_counts().tolist() == [1000] * 10
    mean, std = ds.mean_std()
    torch.testing.assert_close(torch.tensor(mean), torch.tensor([0.494, 0.485, 0.450]),
                               atol=2e-3, rtol=0)
    torch.testing.assert_close(torch.tensor(std), torch.tensor([0.245, 0.242, 0.261]),
                               atol=3e-3, rtol=0)
    again = load_cifar(cifar10_path, split="test")  # from the cache
    assert torch.equal(again.images, ds.images) and torch.equal(again.labels, ds.labels)
