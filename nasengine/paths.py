"""Where nasengine finds data: one setting, ``NASENGINE_DATA``.

The project ships no data. Users point ``NASENGINE_DATA`` at a folder laid out as
``cifar10/…`` and ``nb201/…``; without it, ``../shared/data`` (relative to the
working directory, then to the source checkout) is used so that tests and
benchmarks in a checkout find the shared copies.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "NASENGINE_DATA"
_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The data folder: ``$NASENGINE_DATA`` or the ``../shared/data`` fallback."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    for base in (Path.cwd(), _CHECKOUT_ROOT):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return (Path.cwd() / ".." / "shared" / "data").resolve()


def cache_dir() -> Path:
    """Folder for decoded-data caches (``$NASENGINE_CACHE`` or ``~/.cache/nasengine``)."""
    env = os.environ.get("NASENGINE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nasengine"
