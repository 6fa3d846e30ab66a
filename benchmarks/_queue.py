"""A job queue on the file system: several worker processes share one study.

A worker claims a study cell by atomically creating ``<cell>/.claimed`` with its
pid; a claim whose process has died is taken over (training then resumes from the
cell's last checkpoint). Run one 1-thread worker per core: small NB201 supernets
scale poorly across threads, so two workers finish a study sooner than one
2-thread process.
"""
from __future__ import annotations

import os
from pathlib import Path

LOCK = ".claimed"


def claim(cell: Path) -> bool:
    """True if this process now owns ``cell``; False if a live worker has it."""
    cell.mkdir(parents=True, exist_ok=True)
    lock = cell / LOCK
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        text = lock.read_text().strip()
        if text.isdigit() and Path(f"/proc/{text}").exists():
            return False
        lock.unlink(missing_ok=True)  # its worker died: take it over
        return claim(cell)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def release(cell: Path) -> None:
    (cell / LOCK).unlink(missing_ok=True)
