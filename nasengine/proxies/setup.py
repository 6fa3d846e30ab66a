"""Proxy tables from a run config: the glue between ``[proxies]`` and the stages."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from ..errors import ConfigError
from ..space import Sample
from ..families import get_family
from .base import PROXIES
from .ensemble import log_rank_sum
from .table import ProbeSetup, ProxyTable, probe_batch

if TYPE_CHECKING:  # pragma: no cover
    from ..config import RunConfig


def proxy_table(config: RunConfig, space: str | None = None,
                device: torch.device | str = "cpu") -> ProxyTable:
    """The cached table of ``config.proxies`` for ``space`` (default the supernet's)."""
    from ..data import load_cifar

    pc, dc = config.proxies, config.data
    space = space or config.supernet.space
    net = {"channels": pc.channels, "cells": pc.cells, "num_classes": config.supernet.num_classes}
    setup = ProbeSetup(space, dc.dataset, pc.batch_size, pc.seed, net,
                       device=torch.device(device).type)
    train = load_cifar(dc.source, split="train", dataset=dc.dataset)
    batch = probe_batch(train, pc.batch_size, pc.seed, device)
    return ProxyTable(get_family(space), setup, batch, pc.cache)


def check_names(config: RunConfig) -> None:
    """Unknown proxies in ``[proxies]`` fail before any work starts (ConfigError)."""
    pc = config.proxies
    names = report_names(config)
    for name in names:
        PROXIES.get(name)
    if "ensemble" in names:
        PROXIES.create("ensemble", **({"members": pc.ensemble} if pc.ensemble else {}))


def proxy_columns(config: RunConfig, archs: Sequence[Sample], progress: bool = True,
                  table: ProxyTable | None = None) -> dict[str, np.ndarray]:
    """Every proxy ``config.proxies`` names or the hybrid reads, for ``archs``."""
    check_names(config)
    pc = config.proxies
    table = table or proxy_table(config)
    return table.columns(archs, report_names(config), ensemble=pc.ensemble or None,
                         progress=progress, workers=pc.workers)


def report_names(config: RunConfig) -> list[str]:
    """The proxies a ranking report scores: those it shows and those the hybrid reads."""
    pc = config.proxies
    return list(dict.fromkeys([*pc.names, *pc.hybrid]))


def prior_scores(table: ProxyTable, archs: Sequence[Sample], names: Sequence[str],
                 ensemble: Sequence[str] | None = None, progress: bool = True,
                 workers: int = 1) -> np.ndarray:
    """Σ log-rank over ``archs`` of the proxies ``names`` (higher: predicted better): the
    training-free prior a sampler may spend its steps by (``SamplerContext.proxy_scores``)."""
    if not names:
        raise ConfigError("the proxy prior ranks archs by proxies.hybrid, which is empty; "
                          "name at least one proxy, e.g. proxies.hybrid = [\"ensemble\"]")
    columns = table.columns(archs, names, ensemble=ensemble, progress=progress, workers=workers)
    return log_rank_sum(columns, names)


def configured_prior(config: RunConfig, archs: Sequence[Sample], device: torch.device | str,
                     progress: bool = True) -> np.ndarray:
    """:func:`prior_scores` of the run's ``proxies.hybrid`` members, from its cached table."""
    check_names(config)
    pc = config.proxies
    return prior_scores(proxy_table(config, device=device), archs, pc.hybrid,
                        pc.ensemble or None, progress, pc.workers)


def arch_list(space: Any, archs: str, seed: int) -> list[Sample]:
    """``"all"`` (every arch, in a seeded random order, so a table stopped early holds a
    uniform sample) or a number of distinct seeded draws, as the evaluator draws them."""
    import random

    order = list(range(len(space)))
    random.Random(seed).shuffle(order)
    if archs != "all":
        try:
            n = int(archs)
        except ValueError:
            raise ConfigError(f"--archs takes 'all' or a number of archs, got {archs!r}") \
                from None
        if n < 1:
            raise ConfigError(f"--archs must be >= 1, got {n}")
        order = random.Random(seed).sample(range(len(space)), min(n, len(space)))
    return [space.decode(i) for i in order]


def write_table(config: RunConfig, out: str | Path, *, space: str | None = None,
                archs: str = "all", names: Sequence[str] = (), progress: bool = True
                ) -> dict[str, Any]:
    """Compute (or read from the cache) every proxy of ``archs``; write ``proxies.csv`` and
    ``proxies.json`` (setup, timing) to ``out``."""
    import csv
    import io
    import time

    from ..checkpoint import atomic_write_json, atomic_write_text

    names = list(names) or PROXIES.names()
    for name in names:
        PROXIES.get(name)
    from ..device import resolve_device

    table = proxy_table(config, space, resolve_device(config.device))
    sample = arch_list(table.space, archs, config.evaluate.arch_seed)
    start = time.perf_counter()
    columns = table.columns(sample, names, ensemble=config.proxies.ensemble or None,
                            progress=progress, workers=config.proxies.workers)
    seconds = time.perf_counter() - start
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["arch", *columns])
    writer.writerows(zip([table.space.format(a) for a in sample], *columns.values()))
    out = Path(out)
    atomic_write_text(out / "proxies.csv", buf.getvalue())
    summary = {"setup": table.setup.key(), "cache": str(table.path), "archs": len(sample),
               "proxies": names, "computed": table.computed, "seconds": seconds,
               "seconds_per_computed_arch": seconds / table.computed if table.computed else None,
               "workers": config.proxies.workers}
    atomic_write_json(out / "proxies.json", summary)
    return summary
