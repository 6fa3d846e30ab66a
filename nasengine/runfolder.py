"""Run folders shared between people and processes: lock, overwrite guard, cleanup.

A training run owns its folder while it trains: a second process is refused with
the holder's PID. The lock is a ``flock`` on ``.lock`` (released by the kernel when
the holder dies, so a lock left by a killed process is taken over), and the file
names the holder's PID for the error message.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

from .errors import RunFolderError

LOCK = ".lock"
# Names atomic_write gives its temporary files: .<target name>.<random>.tmp
_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp$")


@contextlib.contextmanager
def locked(out: str | Path) -> Iterator[Path]:
    """Hold ``out``'s lock for the duration; refuse if another live process holds it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RunFolderError(f"run folder {out} is in use by process {holder} (lock "
                                 f"{path}); wait for it to finish, stop it, or train into "
                                 f"another --out folder") from None
        if _same_file(fd, path):  # not a file a finishing holder just unlinked
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)  # while still locked: nobody can hold the old inode
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def remove_stale_temps(out: str | Path) -> list[Path]:
    """Delete temporary files that killed atomic writes left in ``out`` (call under the lock)."""
    out = Path(out)
    stale = [p for p in out.iterdir() if p.is_file() and _TEMP.match(p.name)] \
        if out.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def guard_overwrite(checkpoint: Path, resume: bool, overwrite: bool,
                    state_files: tuple[Path, ...] = ()) -> None:
    """Refuse to restart over a checkpoint unless told to resume or overwrite.

    With ``overwrite`` the checkpoint and ``state_files`` go now, so a new run killed
    before its first checkpoint cannot leave the old checkpoint beside the new config.
    """
    if resume and overwrite:
        raise RunFolderError("--resume and --overwrite exclude each other; --resume continues "
                             "the checkpoint, --overwrite starts again and replaces it")
    if not checkpoint.exists() or resume:
        return
    if not overwrite:
        raise RunFolderError(f"{checkpoint.parent} already holds a checkpoint; continue it "
                             f"with --resume, replace it with --overwrite, or choose another "
                             f"--out folder")
    for path in (checkpoint, *state_files):
        path.unlink(missing_ok=True)
