"""A job queue on the file system: any number of worker processes share one study.

A worker claims a cell by atomically creating ``<cell>/.claimed`` holding its pid; a
claim whose process has died is taken over (training then resumes from the cell's last
checkpoint). A cell is finished when its result file exists, so a killed study resumes
with its finished cells, and two ``nasengine study`` commands on one folder share it.
"""
from __future__ import annotations

import os
from pathlib import Path

LOCK = ".claimed"


def claim(cell: Path) -> bool:
    """True if this process now owns ``cell``; False if a live process has it."""
    cell.mkdir(parents=True, exist_ok=True)
    lock = cell / LOCK
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        if _alive(lock.read_text().strip()):
            return False
        lock.unlink(missing_ok=True)  # its worker died: take it over
        return claim(cell)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def release(cell: Path) -> None:
    (cell / LOCK).unlink(missing_ok=True)


def _alive(pid: str) -> bool:
    """Whether the process ``pid`` (text read from a lock) still runs on this machine."""
    if not pid.isdigit():
        return False  # a half-written lock: its writer died between open and write
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
