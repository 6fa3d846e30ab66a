"""Tiny CIFAR-format fixtures written by the tests themselves (never downloaded)."""
from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nasengine.data import CIFAR10_CLASSES, ImageDataset


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One thread (2-core machine) and a private cache folder per test."""
    torch.set_num_threads(1)
    monkeypatch.setenv("NASENGINE_CACHE", str(tmp_path / "cache"))


def random_dataset(n: int, n_classes: int, seed: int, size: tuple[int, int] = (32, 32),
                   classes: list[str] | None = None) -> ImageDataset:
    """Random pixels, labels grouped by class like the real sources."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, *size), generator=gen, dtype=torch.uint8)
    labels = torch.arange(n) * n_classes // n
    return ImageDataset(images, labels, classes or [f"c{i}" for i in range(n_classes)])


def write_pickle(path: Path, obj: dict, protocol: int) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def tar_gz(src: Path, dest: Path, arcname: str) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src, arcname=arcname)
    return dest


@pytest.fixture
def make_dataset():
    """``make_dataset(n, n_classes, seed, size=(32, 32))``: random, class-grouped."""
    return random_dataset


@pytest.fixture(name="tar_gz")
def tar_gz_fixture():
    """``tar_gz(src, dest, arcname)`` for tests (importlib mode: conftest is not importable)."""
    return tar_gz


@pytest.fixture
def tiny10() -> dict[str, ImageDataset]:
    classes = list(CIFAR10_CLASSES)
    return {"train": random_dataset(50, 10, seed=1, classes=classes),
            "test": random_dataset(20, 10, seed=2, classes=classes)}


@pytest.fixture
def cifar10_dir(tmp_path: Path, tiny10: dict[str, ImageDataset]) -> Path:
    """``cifar-10-batches-py/`` as the official pickles (protocol 2, bytes keys)."""
    root = tmp_path / "src" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    train, test = tiny10["train"], tiny10["test"]
    for i, idx in enumerate(np.array_split(np.arange(len(train)), 5), start=1):
        part = train.subset(idx)
        write_pickle(root / f"data_batch_{i}", _batch(part, b"labels"), protocol=2)
    write_pickle(root / "test_batch", _batch(test, b"labels"), protocol=2)
    write_pickle(root / "batches.meta", {b"label_names": [c.encode() for c in train.classes],
                                         b"num_vis": 3072}, protocol=2)
    (root / "readme.html").write_text("<html></html>")
    return root


@pytest.fixture
def cifar10_tar(tmp_path: Path, cifar10_dir: Path) -> Path:
    return tar_gz(cifar10_dir, tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py")


@pytest.fixture
def cifar100_dir(tmp_path: Path) -> tuple[Path, dict[str, ImageDataset]]:
    """``cifar-100-python/`` (protocol 5 pickles, ``fine_labels``) and its contents."""
    classes = [f"class_{i:03d}" for i in range(100)]
    data = {"train": random_dataset(200, 100, seed=3, classes=classes),
            "test": random_dataset(100, 100, seed=4, classes=classes)}
    root = tmp_path / "src100" / "cifar-100-python"
    root.mkdir(parents=True)
    for split, ds in data.items():
        blob = _batch(ds, b"fine_labels")
        blob[b"coarse_labels"] = [0] * len(ds)
        write_pickle(root / split, blob, protocol=5)
    write_pickle(root / "meta", {b"fine_label_names": [c.encode() for c in classes],
                                 b"coarse_label_names": [b"x"]}, protocol=5)
    return root, data


def _batch(ds: ImageDataset, label_key: bytes) -> dict:
    return {b"batch_label": b"testing", label_key: ds.labels.tolist(),
            b"data": ds.images.reshape(len(ds), -1).numpy(),
            b"filenames": [f"{i}.png".encode() for i in range(len(ds))]}


@pytest.fixture
def image_tree(tmp_path: Path) -> tuple[Path, dict[str, ImageDataset]]:
    """``<root>/<split>/<class>/NNNN.png`` for all 10 CIFAR-10 classes, 6×8 (H×W) PNGs.

    Returns the root and the datasets the readers must reproduce exactly (PNG is
    lossless), in CIFAR-10 label order and file-name order.
    """
    root = tmp_path / "tree" / "cifar10-png"
    expected = {}
    for split, per_class, seed in (("train", 2, 5), ("test", 1, 6)):
        ds = random_dataset(10 * per_class, 10, seed=seed, size=(6, 8),
                            classes=list(CIFAR10_CLASSES))
        for i in range(len(ds)):
            folder = root / split / ds.classes[int(ds.labels[i])]
            folder.mkdir(parents=True, exist_ok=True)
            pixels = ds.images[i].permute(1, 2, 0).numpy()
            Image.fromarray(pixels, "RGB").save(folder / f"{i:04d}.png")
        expected[split] = ds
    return root, expected
