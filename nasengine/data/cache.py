"""Decoded-tensor cache: decode a source once, then load it in a fraction of a second.

One ``.pt`` file per (source, split, dataset) in :func:`~nasengine.paths.cache_dir`,
named by a hash of the source files' resolved paths, sizes and mtimes, so an
edited or replaced source misses the cache instead of serving stale tensors. For
sources of a few files (tarballs, python batches) the cache also records the
SHA-256 of their content and is rebuilt when it differs, so an edit that keeps
size and mtime is caught too.
"""
from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path

import torch

from ..checkpoint import atomic_write
from .dataset import ImageDataset

CACHE_FORMAT = "nasengine-data-cache/1"
MAX_HASHED_FILES = 16  # image-folder trees (thousands of files) rely on sizes and mtimes


def cache_name(files: list[Path], split: str, dataset: str) -> str:
    """File name keyed on what was read: resolved paths + sizes + mtimes, split, dataset."""
    stats = []
    for path in files:
        st = path.stat()
        stats.append((str(path.resolve()), st.st_size, st.st_mtime_ns))
    blob = json.dumps([CACHE_FORMAT, stats, split, dataset]).encode()
    return f"{dataset}-{split}-{hashlib.sha256(blob).hexdigest()[:20]}.pt"


def content_digest(files: list[Path]) -> str | None:
    """SHA-256 over the content of ``files``; None for trees too large to hash at each load."""
    if len(files) > MAX_HASHED_FILES:
        return None
    return _digest(tuple(_identity(p) for p in files))


def _identity(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()  # ctime moves on any write, even one that restores the mtime
    return str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@functools.lru_cache(maxsize=8)
def _digest(identities: tuple[tuple[str, int, int, int, int], ...]) -> str:
    """Memoized per file identity: the train and test splits hash a tarball once."""
    digest = hashlib.sha256()
    for name, *_ in identities:
        with open(name, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def load_cached(path: Path, digest: str | None = None) -> ImageDataset | None:
    """The cached dataset, or None when absent, unreadable or of another source content."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("format") != CACHE_FORMAT:
            return None
        if blob.get("source_sha256") != digest:
            if "source_sha256" not in blob:  # written before digests were recorded
                return None
            warnings.warn(f"data cache {path} was decoded from other content than the source "
                          f"now holds; rebuilding it", stacklevel=3)
            return None
        return ImageDataset(blob["images"], blob["labels"], blob["classes"])
    except Exception as exc:  # a torn or foreign file: any failure means "rebuild"
        warnings.warn(f"ignoring unreadable data cache {path} ({type(exc).__name__}: {exc}); "
                      f"rebuilding it", stacklevel=3)
        return None


def save_cached(path: Path, ds: ImageDataset, digest: str | None = None) -> None:
    """Write atomically; a read-only cache folder only costs a warning, never the run."""
    blob = {"format": CACHE_FORMAT, "images": ds.images, "labels": ds.labels,
            "classes": list(ds.classes), "source_sha256": digest}
    try:
        atomic_write(path, lambda tmp: torch.save(blob, tmp))
    except OSError as exc:
        warnings.warn(f"could not write data cache {path} ({exc}); set NASENGINE_CACHE to a "
                      f"writable folder to skip decoding next time", stacklevel=3)
