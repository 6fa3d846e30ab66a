"""Proxies computed while the supernet trains, from the CPU time training leaves idle.

On a 2-core CPU the split training step keeps the cores about 80% busy (its threads wait
on each other and on Python), and the report's proxies then cost a minute or more of
their own after ranking. :func:`prefetch_proxies` runs the proxy table for the archs the
report will rank in one background process at the lowest scheduling priority
(``nice 19``), so it runs only on otherwise idle cycles, and appends every finished arch
to the shared cache. When training ends it is told to stop after its current arch and is
joined before anything else writes the cache: the report then reads what it finished and
computes the rest itself, with ``proxies.workers``. A prefetch that fails costs nothing
but its time, and says so.

CPU only: on a GPU the proxies cost milliseconds per arch, and a second process would
compete for the device.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..validation import warn_if

if TYPE_CHECKING:  # pragma: no cover
    from ..config import RunConfig

#: seconds to wait for the prefetch to finish its current arch after being told to stop
JOIN_SECONDS = 120.0


@contextlib.contextmanager
def prefetch_proxies(config: RunConfig, arch_names: Sequence[str]) -> Iterator[None]:
    """Compute ``config.proxies`` for the archs ``arch_names`` in a niced background
    process while the body runs (a no-op without proxies, with ``proxies.prefetch = false``
    or off CPU)."""
    from ..device import resolve_device

    pc = config.proxies
    if not (pc.names and pc.prefetch and arch_names) or resolve_device(config.device).type != "cpu":
        yield
        return
    context = multiprocessing.get_context("spawn")  # no torch thread pools inherited
    stop = context.Event()
    process = context.Process(target=_prefetch, daemon=True, name="nasengine-proxy-prefetch",
                              args=(config.to_dict(), list(arch_names), stop))
    process.start()
    try:
        yield
    finally:
        stop.set()
        process.join(JOIN_SECONDS)
        if process.is_alive():  # one arch takes seconds; do not leave a second writer
            process.terminate()
            process.join()
        warn_if(process.exitcode not in (0, None),
                f"the proxy prefetch failed (exit code {process.exitcode}, its error is above); "
                "the report computes the missing proxies itself")


def _prefetch(config: dict[str, Any], arch_names: list[str], stop: Any) -> None:
    """The background process: lowest priority, one thread, stop between archs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the run, which stops us
    os.nice(19)
    import torch

    from ..config import from_dict
    from .setup import proxy_table, report_names

    torch.set_num_threads(1)
    run_config = from_dict(config)
    table = proxy_table(run_config)
    archs = [table.space.parse(name) for name in arch_names]
    try:
        table.fill_names(archs, report_names(run_config), run_config.proxies.ensemble or None,
                         progress=False, workers=1, stop=stop.is_set)
    except Exception as exc:  # noqa: BLE001 - the report recomputes; say why we stopped
        print(f"proxy prefetch: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
