"""Readers for the CIFAR layouts nasengine accepts, told apart by content.

Two layouts, each as a folder or as a tarball read member by member (never
extracted to disk):

* ``pickle``: the official "python version" batches (``cifar-10-batches-py/``
  with ``data_batch_1..5``, ``test_batch``, ``batches.meta``; ``cifar-100-python/``
  with ``train``, ``test``, ``meta``).
* ``images``: an image-folder tree ``<root>/<split>/<class>/*.{png,jpg}``.
"""
from __future__ import annotations

import io
import lzma
import pickle
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from .dataset import ImageDataset

SPLITS = ("train", "test")
DATASETS = ("cifar10", "cifar100")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class PickleLayout:
    """File and key names of one official python-batches variant."""

    batches: dict[str, tuple[str, ...]]
    meta: str
    label_key: str
    names_key: str


PICKLE_LAYOUTS = {
    "cifar10": PickleLayout({"train": tuple(f"data_batch_{i}" for i in range(1, 6)),
                             "test": ("test_batch",)}, "batches.meta", "labels", "label_names"),
    "cifar100": PickleLayout({"train": ("train",), "test": ("test",)}, "meta",
                             "fine_labels", "fine_label_names"),
}
# File name -> the variant it betrays (content detection for folders and tarballs).
_PICKLE_NAMES = {name: variant for variant, lay in PICKLE_LAYOUTS.items()
                 for name in (lay.meta, *(n for names in lay.batches.values() for n in names))}
_TAR_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


@dataclass(frozen=True)
class Source:
    """A detected data source: where it is, which layout, and (pickle) which variant."""

    path: Path
    layout: str  # "pickle" | "images"
    variant: str | None = None  # "cifar10" | "cifar100" for pickle layouts


class _Record(NamedTuple):
    cls: str
    name: str
    pixels: bytes  # H*W*3 RGB
    size: tuple[int, int]


# -- detection ----------------------------------------------------------------------
def detect(path: Path) -> Source | None:
    """The layout at ``path`` (a folder or a tarball), or None for a folder holding neither."""
    return _peek_tar(path) if path.is_file() else _detect_dir(path)


def _detect_dir(path: Path) -> Source | None:
    files = [p.name for p in path.iterdir() if p.is_file()]
    variants = {_PICKLE_NAMES[n] for n in files if n in _PICKLE_NAMES}
    if len(variants) == 1:
        return Source(path, "pickle", variants.pop())
    if any((path / split).is_dir() for split in SPLITS):
        return Source(path, "images")
    return None


def _peek_tar(path: Path, max_members: int = 100) -> Source:
    """Classify a tarball from its first file members (cheap: stops early)."""
    with _open_tar(path, verify=False) as tar:
        for i, member in enumerate(tar):
            name = PurePosixPath(member.name)
            if member.isfile() and name.name in _PICKLE_NAMES:
                return Source(path, "pickle", _PICKLE_NAMES[name.name])
            if member.isfile() and name.suffix.lower() in IMAGE_SUFFIXES:
                return Source(path, "images")
            if i >= max_members:
                break
    raise DataError(f"{path} is a tarball but holds neither CIFAR python batches nor an "
                    f"image-folder tree (<split>/<class>/*.png); point the source at CIFAR data")


@contextmanager
def _open_tar(path: Path, verify: bool = True) -> Iterator[tarfile.TarFile]:
    """Open a (compressed) tarball; any read error, now or while iterating, names the file.

    With ``verify`` the compressed stream is read to its end after the caller's reads:
    tarfile stops at the end-of-archive block, before the gzip/bz2/xz trailer, so only
    this catches a checksum error (a flipped byte would otherwise pass unnoticed).
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            yield tar
            if verify and tar.fileobj is not None:
                while tar.fileobj.read(1 << 20):
                    pass
    except DataError:
        raise
    except _TAR_ERRORS as exc:
        raise DataError(f"{path} is not a readable tarball ({exc}); it is corrupt or truncated: "
                        f"delete it and download it again") from exc


# -- reading ------------------------------------------------------------------------
def read_source(source: Source, split: str) -> ImageDataset:
    """Decode ``split`` of ``source`` into an :class:`ImageDataset`."""
    packed = source.path.is_file()
    if source.layout == "pickle":
        layout = PICKLE_LAYOUTS[source.variant or ""]
        read = _pickles_from_tar if packed else _pickles_from_dir
        return _pickle_dataset(read(source.path, layout, split), layout, split, source.path)
    records = _images_from_tar(source.path, split) if packed else _images_from_dir(
        source.path, split)
    return _assemble(records, f"{split}/<class>/ in {source.path}")


def fingerprint_files(source: Source, split: str) -> list[Path]:
    """The files whose size and mtime decide whether a cached decode is still valid."""
    if source.path.is_file():
        return [source.path]
    if source.layout == "pickle":
        layout = PICKLE_LAYOUTS[source.variant or ""]
        return [source.path / n for n in (*layout.batches[split], layout.meta)]
    return [p for _, p in _image_files(source.path / split)]


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists and dicts only: a data file must not run code."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
        (f"numpy.{core}.{mod}", fn) for core in ("core", "_core")
        for mod, fn in (("multiarray", "_reconstruct"), ("multiarray", "scalar"),
                        ("numeric", "_frombuffer"))}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(fileobj: IO[bytes], where: str) -> dict[str, Any]:
    try:
        obj = _RestrictedUnpickler(fileobj, encoding="bytes").load()
    except Exception as exc:  # corrupt pickles raise almost any exception type
        raise DataError(f"{where} is not a readable CIFAR pickle ({type(exc).__name__}: {exc}); "
                        f"it is corrupt: delete it and download the data again") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{where} holds a {type(obj).__name__}, not a CIFAR batch dict; "
                        f"point the source at the official python version")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _pickles_from_dir(path: Path, layout: PickleLayout, split: str) -> dict[str, dict]:
    out = {}
    for name in (*layout.batches[split], layout.meta):
        if not (path / name).is_file():
            raise DataError(f"{path} lacks {name}; the CIFAR python batches are incomplete: "
                            f"extract the official tarball again")
        with open(path / name, "rb") as f:
            out[name] = _unpickle(f, str(path / name))
    return out


def _pickles_from_tar(path: Path, layout: PickleLayout, split: str) -> dict[str, dict]:
    wanted, out = {*layout.batches[split], layout.meta}, {}
    with _open_tar(path) as tar:
        for member in tar:
            base = PurePosixPath(member.name).name
            if member.isfile() and base in wanted:
                out[base] = _unpickle(tar.extractfile(member), f"{path}:{member.name}")
    missing = sorted(wanted - out.keys())
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}; the tarball is incomplete: "
                        f"download it again")
    return out


def _pickle_dataset(blobs: dict[str, dict], layout: PickleLayout, split: str,
                    where: Path) -> ImageDataset:
    images, labels = [], []
    for name in layout.batches[split]:
        try:
            data = np.asarray(blobs[name]["data"], dtype=np.uint8)
            targets = np.asarray(blobs[name][layout.label_key], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}/{name} is not a CIFAR batch ({exc!r} reading 'data'/"
                            f"'{layout.label_key}'); use the official python version") from exc
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(targets) != len(data):
            raise DataError(f"{where}/{name}: expected data N×3072 and N labels, got "
                            f"{data.shape} and {len(targets)}; use the official python version")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(targets)
    try:
        classes = [n.decode() if isinstance(n, bytes) else str(n)
                   for n in blobs[layout.meta][layout.names_key]]
    except (KeyError, TypeError) as exc:
        raise DataError(f"{where}/{layout.meta} lacks '{layout.names_key}'; "
                        f"use the official python version") from exc
    return _dataset(np.concatenate(images), np.concatenate(labels), classes, str(where))


def _dataset(images: np.ndarray, labels: np.ndarray, classes: list[str],
             where: str) -> ImageDataset:
    try:
        return ImageDataset(torch.from_numpy(np.ascontiguousarray(images)),
                            torch.from_numpy(labels), classes)
    except ValueError as exc:
        raise DataError(f"{where}: {exc}; the data is corrupt or not CIFAR") from exc


# -- image folders ------------------------------------------------------------------
def class_order(names: set[str]) -> list[str]:
    """Label order for class-folder names: CIFAR-10's own order, else sorted.

    CIFAR-100's fine label names are alphabetical already, so sorted order is its
    label order too.
    """
    return list(CIFAR10_CLASSES) if names == set(CIFAR10_CLASSES) else sorted(names)


def _image_files(split_dir: Path) -> list[tuple[str, Path]]:
    """(class, file) pairs of ``split_dir/<class>/*.{png,jpg}``, sorted."""
    if not split_dir.is_dir():
        return []
    return sorted((d.name, f) for d in split_dir.iterdir() if d.is_dir()
                  for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())


def _decode(data: bytes, where: str) -> tuple[bytes, tuple[int, int]]:
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = im if im.mode == "RGB" else im.convert("RGB")
            return rgb.tobytes(), rgb.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where} is not a readable image ({exc}); delete or replace it") from exc


def _images_from_dir(root: Path, split: str) -> list[_Record]:
    return [_Record(cls, f.name, *_decode(f.read_bytes(), str(f)))
            for cls, f in _image_files(root / split)]


def _images_from_tar(path: Path, split: str) -> list[_Record]:
    records = []
    with _open_tar(path) as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if (member.isfile() and len(parts) >= 3 and parts[-3] == split
                    and PurePosixPath(parts[-1]).suffix.lower() in IMAGE_SUFFIXES):
                data = tar.extractfile(member).read()
                records.append(_Record(parts[-2], parts[-1],
                                       *_decode(data, f"{path}:{member.name}")))
    return records


def _assemble(records: list[_Record], where: str) -> ImageDataset:
    """Stack decoded images in (label, file name) order into one uint8 tensor."""
    if not records:
        raise DataError(f"no images found under {where}; expected <split>/<class>/*.png or *.jpg")
    classes = class_order({r.cls for r in records})
    label = {c: i for i, c in enumerate(classes)}
    records.sort(key=lambda r: (label[r.cls], r.name))
    sizes = {r.size for r in records}
    if len(sizes) > 1:
        raise DataError(f"images under {where} differ in size ({sorted(sizes)[:4]}); "
                        f"resize them to one size first")
    (w, h), = sizes
    pixels = np.frombuffer(bytearray().join(r.pixels for r in records), dtype=np.uint8)
    images = pixels.reshape(len(records), h, w, 3).transpose(0, 3, 1, 2)
    labels = np.fromiter((label[r.cls] for r in records), dtype=np.int64, count=len(records))
    return _dataset(images, labels, classes, where)
