"""Device, precision and thread settings from the config (CPU and CUDA alike)."""
from __future__ import annotations

import contextlib
import ctypes
import os
from typing import ContextManager

import torch

from .errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; an unavailable device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


def autocast(device: torch.device, enabled: bool) -> ContextManager:
    """bf16 autocast on CUDA (no loss scaling needed); a no-op on CPU."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(int(threads))


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_ALLOCATOR_TUNED = False


def tune_cpu_allocator() -> bool:
    """Keep freed tensor memory in the heap for reuse (glibc only; True if applied).

    By default glibc returns the memory of every large tensor to the kernel and gets it
    back page-fault by page-fault at the next step: 620k page faults per benchmark run;
    tuned, C8N1 training runs 1.09-1.23x and full-space ranking 1.26x faster
    (benchmarks/RESULTS.md, sections 2-3). Blocks
    up to 32 MiB now come from the heap, which is trimmed only above 1 GiB free; peak
    RSS is unchanged. ``MALLOC_MMAP_THRESHOLD_`` in the environment wins, and
    ``NASENGINE_TUNE_ALLOCATOR=0`` opts out.
    """
    global _ALLOCATOR_TUNED
    if (_ALLOCATOR_TUNED or "MALLOC_MMAP_THRESHOLD_" in os.environ
            or os.environ.get("NASENGINE_TUNE_ALLOCATOR", "1") == "0"):
        return _ALLOCATOR_TUNED
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return False
    _ALLOCATOR_TUNED = bool(ok)
    return _ALLOCATOR_TUNED
