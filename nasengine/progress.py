"""Progress that suits where it goes: a live bar on a terminal, a few lines in a log.

A tqdm bar redraws itself many times a second; redirected to a file that is hundreds
of kilobytes of carriage returns. Off a terminal,
:func:`progress_bar` prints one line every ``NASENGINE_PROGRESS_SECONDS`` (30 s) and one when the task ends instead.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tqdm.auto import tqdm

INTERVAL_ENV = "NASENGINE_PROGRESS_SECONDS"


def progress_bar(iterable: Iterable | None = None, *, desc: str, unit: str,
                 enabled: bool = True, total: int | None = None, initial: int = 0,
                 stream: TextIO | None = None) -> Any:
    """A tqdm bar on a terminal, else a :class:`LineProgress` (both: iterate/update/postfix)."""
    stream = stream or sys.stderr
    if enabled and _is_terminal(stream):
        return tqdm(iterable, desc=desc, unit=unit, total=total, initial=initial, leave=False,
                    file=stream)
    interval = float(os.environ.get(INTERVAL_ENV, "30"))
    return LineProgress(iterable, desc=desc, unit=unit, total=total, initial=initial,
                        stream=stream if enabled else None, interval=interval)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or foreign stream
        return False


class LineProgress:
    """Counts like a tqdm bar; prints a summary line now and then, and at the end."""

    def __init__(self, iterable: Iterable | None, *, desc: str, unit: str, total: int | None,
                 initial: int, stream: TextIO | None, interval: float) -> None:
        self.iterable, self.desc, self.unit, self.stream = iterable, desc, unit, stream
        self.total = total if total is not None else _length(iterable)
        self.n, self.initial, self.interval, self.postfix = initial, initial, interval, ""
        self.start = self.last = time.monotonic()

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable or ():
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.interval:
            self._emit()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.stream is not None:
            self._emit(final=True)
            self.stream = None  # once

    def _emit(self, final: bool = False) -> None:
        self.last = time.monotonic()
        if self.stream is None:
            return
        of = f"/{self.total}" if self.total is not None else ""
        extra = f", {self.postfix}" if self.postfix else ""
        finished = self.total is None or self.n >= self.total
        word = ("done" if finished else "stopped at") if final else "at"
        left = "" if final else self._left()
        self.stream.write(f"{self.desc}: {word} {self.n}{of} {self.unit}, "
                          f"{self.last - self.start:.0f} s{left}{extra}\n")
        self.stream.flush()


    def _left(self) -> str:
        """', ~T left' at this process's average rate (a resumed task's earlier items,
        ``initial``, took no time here), so a log of a long task says when it ends."""
        done = self.n - self.initial
        if self.total is None or done <= 0 or self.n >= self.total:
            return ""
        seconds = (self.total - self.n) * (self.last - self.start) / done
        return f", ~{seconds:.0f} s left" if seconds < 120 else f", ~{seconds / 60:.0f} min left"


def _length(iterable: Iterable | None) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None
