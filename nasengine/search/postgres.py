"""A private PostgreSQL server in a temporary folder, for trying several search workers
on one machine (and for the tests and the throughput benchmark that need a real one).

    with LocalPostgres() as url:   # postgresql+psycopg2://postgres@127.0.0.1:PORT/postgres
        ...

It runs Debian's ``postgresql`` binaries (``initdb``, ``pg_ctl``) on 127.0.0.1 at a
free port, as the ``postgres`` user when started by root (the server refuses root),
and removes everything when stopped.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from ..errors import DataError

FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
"""Settings for throwaway test servers: no durability, much faster commits."""


class LocalPostgres:
    """``initdb`` + ``pg_ctl`` on loopback; ``start`` returns the SQLAlchemy URL."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        self.settings = settings or {}
        self.folder: Path | None = None
        self._bin = _binaries()
        self._as = _as_postgres_user()

    def start(self) -> str:
        """Create the cluster and start the server; DataError says why it cannot."""
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise DataError("the PostgreSQL driver is missing; pip install "
                            "'nasengine[postgres]' (psycopg2-binary)") from None
        self.folder = Path(tempfile.mkdtemp(prefix="nasengine-pg-"))
        if self._as:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        data, port = self.folder / "data", _free_port()
        self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        options = " ".join([f"-h 127.0.0.1 -p {port} -k {self.folder}",
                            *(f"-c {k}={v}" for k, v in self.settings.items())])
        self._run("pg_ctl", "-D", str(data), "-l", str(self.folder / "server.log"), "-w",
                  "-t", "60", "-o", options, "start")
        return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self.folder is None:
            return
        if (self.folder / "data" / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, tool: str, *args: str) -> None:
        command = [*self._as, str(Path(self._bin) / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = self.folder / "server.log" if self.folder else None
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            if log and log.exists():
                detail += log.read_text().strip().splitlines()[-1:]
            raise DataError(f"PostgreSQL {tool} failed (exit {done.returncode}): "
                            f"{' | '.join(detail)}")


def _binaries() -> str:
    """The folder of initdb/pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<v>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return str(Path(found).resolve().parent)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not versions:
        raise DataError("PostgreSQL is not installed (no initdb on PATH or in "
                        "/usr/lib/postgresql/*/bin); apt-get install postgresql")
    return str(Path(versions[-1]).parent)


def _as_postgres_user() -> list[str]:
    """The command prefix that drops root to the 'postgres' user; none when not root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise DataError("running as root and there is no 'postgres' user to run the "
                        "server as (PostgreSQL refuses root); useradd postgres") from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise DataError("running as root without runuser to drop to the 'postgres' user")
    return [runuser, "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
