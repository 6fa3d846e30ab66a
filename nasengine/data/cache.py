"""Decoded-tensor cache: decode a source once, then load it in a fraction of a second.

One ``.pt`` file per (source, split, dataset) in :func:`~nasengine.paths.cache_dir`,
named by a hash of the source files' resolved paths, sizes and mtimes, so an
edited or replaced source misses the cache instead of serving stale tensors.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch

from ..checkpoint import atomic_write
from .dataset import ImageDataset

CACHE_FORMAT = "nasengine-data-cache/1"


def cache_name(files: list[Path], split: str, dataset: str) -> str:
    """File name keyed on what was read: resolved paths + sizes + mtimes, split, dataset."""
    stats = []
    for path in files:
        st = path.stat()
        stats.append((str(path.resolve()), st.st_size, st.st_mtime_ns))
    blob = json.dumps([CACHE_FORMAT, stats, split, dataset]).encode()
    return f"{dataset}-{split}-{hashlib.sha256(blob).hexdigest()[:20]}.pt"


def load_cached(path: Path) -> ImageDataset | None:
    """The cached dataset, or None when absent or unreadable (the caller rebuilds it)."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("format") != CACHE_FORMAT:
            return None
        return ImageDataset(blob["images"], blob["labels"], blob["classes"])
    except Exception as exc:  # a torn or foreign file: any failure means "rebuild"
        warnings.warn(f"ignoring unreadable data cache {path} ({type(exc).__name__}: {exc}); "
                      f"rebuilding it", stacklevel=3)
        return None


def save_cached(path: Path, ds: ImageDataset) -> None:
    """Write atomically; a read-only cache folder only costs a warning, never the run."""
    blob = {"format": CACHE_FORMAT, "images": ds.images, "labels": ds.labels,
            "classes": list(ds.classes)}
    try:
        atomic_write(path, lambda tmp: torch.save(blob, tmp))
    except OSError as exc:
        warnings.warn(f"could not write data cache {path} ({exc}); set NASENGINE_CACHE to a "
                      f"writable folder to skip decoding next time", stacklevel=3)
