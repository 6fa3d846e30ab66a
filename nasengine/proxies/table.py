"""Proxy tables: every proxy of many archs, computed once, cached, resumable.

A value depends on the arch and on the :class:`ProbeSetup` (space, network size, batch,
seed): the setup names one cache file, and each finished arch is appended to it as one
JSON line, so a killed computation resumes where it stopped and every later report
reads the table instead of recomputing it. Archs whose networks compute the same
function from the same weights (the family's ``canonical`` arch) share the values of
``function_only`` proxies, which are computed once per class. A proxy's values are stored
under its ``cache_key``, which names its version: a proxy whose computation changed is
computed again, and the other proxies' cached values stay valid.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

import numpy as np
import torch

from ..errors import ConfigError
from ..forking import can_fork, forked_map, inherited
from ..paths import cache_dir
from ..progress import progress_bar
from ..space import Sample
from ..families import SpaceFamily
from .base import PROXIES, ArchProxy, Batch, Probe, Proxy

CHUNK = 4  # archs per worker task: small enough for a smooth progress bar
VERSION = 1  # of what every proxy reads (batch, init); one proxy's change bumps its version


@dataclass(frozen=True)
class ProbeSetup:
    """Everything a proxy value depends on besides the arch: the cache key."""

    space: str
    dataset: str = "cifar10"
    batch_size: int = 64
    seed: int = 0
    net: dict[str, Any] = field(default_factory=dict)  # stand-alone network kwargs
    #: device type the values are computed on: kernels round differently across devices,
    #: so a CUDA table is its own cache file (CPU keeps the key caches were written under)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise ConfigError(f"proxies.batch_size must be an integer >= 2 (NASWOT and "
                              f"jacob_cov compare images), got {self.batch_size!r}")

    def key(self) -> str:
        net = "-".join(f"{k}{v}" for k, v in sorted(self.net.items()))
        device = "" if self.device == "cpu" else f"-{self.device}"
        return (f"v{VERSION}-{self.space}-{net or 'default'}-{self.dataset}-b{self.batch_size}"
                f"-s{self.seed}{device}")


def probe_batch(train_images: Any, batch_size: int, seed: int,
                device: torch.device | str = "cpu") -> Batch:
    """``batch_size`` training images drawn with ``seed``, normalised, not augmented."""
    from ..data import BatchAugment

    idx = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(seed))
    subset = train_images.subset(idx[:batch_size])
    x = BatchAugment(*train_images.mean_std(), pad=0, flip=False).normalize(subset.images)
    return x.to(device), subset.labels.to(device)


def expand(names: Sequence[str], ensemble: Sequence[str] | None = None
           ) -> tuple[dict[str, Proxy], list[str]]:
    """(proxy objects by name, the per-arch proxies they read), unknown names refused."""
    proxies: dict[str, Proxy] = {}
    for name in names:
        kwargs = {"members": tuple(ensemble)} if name == "ensemble" and ensemble else {}
        proxies[name] = PROXIES.create(name, **kwargs)
    needed = list(dict.fromkeys(m for p in proxies.values() for m in p.members))
    return proxies, needed


class ProxyTable:
    """Proxies of archs of one family under one setup, backed by a JSON-lines cache."""

    def __init__(self, family: SpaceFamily, setup: ProbeSetup, batch: Batch,
                 cache: str | Path | None = None) -> None:
        self.family, self.setup, self.batch = family, setup, batch
        self.space = family.space()
        root = Path(cache) if cache is not None else cache_dir() / "proxies"
        self.path = root / f"{setup.key()}.jsonl"
        self.rows, self.seconds, self.cpu_seconds = self._load()
        self.computed = 0  # archs scored by this object (the rest came from the cache)

    def _load(self) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, float]]:
        """(arch -> its proxies, arch -> wall and CPU seconds spent on them) from the cache."""
        rows: dict[str, dict[str, float]] = {}
        seconds: dict[str, float] = {}
        cpu: dict[str, float] = {}
        if not self.path.is_file():
            return rows, seconds, cpu
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line a kill interrupted; its arch is computed again
            rows.setdefault(row["arch"], {}).update(row["scores"])
            seconds[row["arch"]] = seconds.get(row["arch"], 0.0) + row.get("seconds", 0.0)
            if "cpu_seconds" in row:
                cpu[row["arch"]] = cpu.get(row["arch"], 0.0) + row["cpu_seconds"]
        return rows, seconds, cpu

    def columns(self, archs: Sequence[Sample], names: Sequence[str],
                ensemble: Sequence[str] | None = None, progress: bool = True,
                workers: int = 1) -> dict[str, np.ndarray]:
        """``{proxy: scores of archs}`` for ``names`` (set-level ones over these archs)."""
        proxies, per_arch = self.fill_names(archs, names, ensemble, progress, workers)
        columns = {n: np.array([self._value(a, p) for a in archs]) for n, p in per_arch.items()}
        return {n: p.combine(columns) for n, p in proxies.items()}

    def fill_names(self, archs: Sequence[Sample], names: Sequence[str],
                   ensemble: Sequence[str] | None = None, progress: bool = True,
                   workers: int = 1, stop: Callable[[], bool] | None = None
                   ) -> tuple[dict[str, Proxy], dict[str, ArchProxy]]:
        """:meth:`fill` for the per-arch proxies that ``names`` read; returns (the proxies
        ``names`` name, the per-arch proxies they read)."""
        proxies, needed = expand(names, ensemble)
        per_arch = {n: PROXIES.create(n) for n in needed}
        self.fill(archs, per_arch, progress, workers, stop)
        return proxies, per_arch

    def fill(self, archs: Sequence[Sample], proxies: dict[str, ArchProxy], progress: bool,
             workers: int, stop: Callable[[], bool] | None = None) -> None:
        """Compute and append every missing value of ``proxies`` for ``archs``; ``stop``
        (asked after each finished batch of rows) ends it early, every finished row kept."""
        jobs: dict[str, set[str]] = {}
        for arch in archs:
            for name, proxy in proxies.items():
                where = self.source(arch, proxy)
                if proxy.cache_key not in self.rows.get(where, {}):
                    jobs.setdefault(where, set()).add(name)
        todo = [(arch, sorted(names)) for arch, names in jobs.items()]
        with progress_bar(total=len(todo), desc="proxies", unit="arch",
                          enabled=progress and bool(todo)) as bar, \
                _append(self.path) if todo else contextlib.nullcontext() as sink:
            for rows in self._score_chunks(todo, workers):
                for arch, scores, (wall, cpu) in rows:
                    sink.write(json.dumps({"arch": arch, "scores": scores, "seconds": round(wall, 4),
                                           "cpu_seconds": round(cpu, 4)}) + "\n")
                    self.rows.setdefault(arch, {}).update(scores)
                    self.seconds[arch] = self.seconds.get(arch, 0.0) + wall
                    self.cpu_seconds[arch] = self.cpu_seconds.get(arch, 0.0) + cpu
                sink.flush()
                self.computed += len(rows)
                bar.update(len(rows))
                if stop is not None and stop():
                    break

    def source(self, arch: Sample, proxy: ArchProxy) -> str:
        """The arch whose row holds ``proxy`` of ``arch`` (its canonical one if shared)."""
        return self.space.format(self.family.canonical(arch) if proxy.function_only else arch)

    def has(self, arch: Sample, names: Sequence[str]) -> bool:
        """Whether the cache holds every per-arch proxy ``names`` of ``arch``."""
        return all(p.cache_key in self.rows.get(self.source(arch, p), {})
                   for p in map(PROXIES.create, names))

    def _value(self, arch: Sample, proxy: ArchProxy) -> float:
        return self.rows[self.source(arch, proxy)][proxy.cache_key]

    def _score_chunks(self, todo: list[tuple[str, list[str]]], workers: int
                      ) -> Iterator[list[tuple[str, dict[str, float], tuple[float, float]]]]:
        """Rows in order: one at a time in this process (a kill loses no finished arch),
        ``CHUNK`` at a time from forked workers (a kill loses the chunks in flight)."""
        chunks = [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)]
        if workers <= 1 or len(chunks) < 2 or not can_fork(self.batch[0]):
            yield from (self.score_jobs([job]) for job in todo)
            return
        yield from forked_map(_score_forked, chunks, workers, self,  # table and batch inherited
                              "run with proxies.workers=1, or free memory and retry; "
                              "finished archs are kept")

    def score_jobs(self, jobs: Sequence[tuple[str, list[str]]]
                   ) -> list[tuple[str, dict[str, float], tuple[float, float]]]:
        """(arch, its proxies by cache key, (wall, CPU) seconds they took) of each job; CPU
        seconds say what a free core would take when other work shares the machine."""
        out = []
        for arch, names in jobs:
            wall, cpu = time.perf_counter(), time.process_time()
            scores = self.score(self.space.parse(arch), names)
            scores = {PROXIES.create(n).cache_key: v for n, v in scores.items()}
            out.append((arch, scores, (time.perf_counter() - wall, time.process_time() - cpu)))
        return out

    def score(self, arch: Sample, names: Sequence[str]) -> dict[str, float]:
        """The per-arch proxies ``names`` of ``arch``, computed now (no cache)."""
        net = dict(self.setup.net)
        probe = Probe(lambda: self.family.standalone(arch, **net), self.batch, self.setup.seed,
                      self.family.input_shape(**net))
        out = {}
        for name in names:
            value = float(PROXIES.create(name).score(probe))
            out[name] = value if not math.isnan(value) else -math.inf
        return out


def _score_forked(jobs: list[tuple[str, list[str]]]) -> list[tuple[str, dict[str, float], tuple[float, float]]]:
    return inherited().score_jobs(jobs)



def _append(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a")
