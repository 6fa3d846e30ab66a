"""Python API: the same pipeline the CLI runs (train -> rank), one function each.

>>> from nasengine import api
>>> cfg = api.load_config("demo")
>>> api.run(cfg, "runs/demo")          # doctest: +SKIP
"""
from __future__ import annotations

import functools
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch

from .checkpoint import atomic_write_json, load_checkpoint
from .config import RunConfig, load_config
from .data import BatchAugment, ImageDataset, TensorLoader, load_dataset
from .device import resolve_device, set_threads
from .errors import ConfigError
from .evaluate import BN_PROTOCOLS, Evaluator
from .samplers import SAMPLERS, Sampler
from .space import Sample, SearchSpace
from .spaces import SpaceFamily, get_family

if TYPE_CHECKING:  # pragma: no cover
    from .benchmark.truth import GroundTruth
from .supernet.base import Supernet
from .train import CHECKPOINT, Trainer

__all__ = ["build", "load_config", "rank", "run", "search", "train"]


class Pipeline:
    """The objects one config describes, built once and shared by train and rank."""

    def __init__(self, config: RunConfig, progress: bool = True) -> None:
        set_threads(config.threads)
        self.config, self.progress = config, progress
        self.device = resolve_device(config.device)
        self.family: SpaceFamily = get_family(config.supernet.space)
        torch.manual_seed(config.seed)
        sc = config.supernet
        self.options = self.family.run_options(sc)  # the supernet.* values the family takes
        self.supernet: Supernet = self.family.build_supernet(sc.sharing, **self.options)
        self.space: SearchSpace = self.supernet.space  # the space at the run's options
        if config.fewshot.strategy:  # the tree wraps the supernet; it draws no random numbers
            from .fewshot import FewShotSupernet

            self.supernet = FewShotSupernet.from_config(self.supernet, config.fewshot,
                                                        config.train.epochs, config.seed)
        self.sampler: Sampler = SAMPLERS.create(config.sampler.name, space=self.space,
                                                seed=config.seed, **config.sampler.options)
        self._train_set: ImageDataset | None = None
        self.complexity = cached_complexity(self.family, **self.options)

    @functools.cached_property
    def ground_truth(self) -> GroundTruth | None:
        """The space's ground truth for this run's oracle settings (None: the space has none)."""
        return self.family.ground_truth(self.config.evaluate)

    # -- data ------------------------------------------------------------------
    @property
    def train_set(self) -> ImageDataset:
        if self._train_set is None:
            dc = self.config.data
            data = load_dataset(dc.dataset, dc.source, "train")
            if dc.train_limit:
                perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(
                    self.config.seed))[: dc.train_limit]
                data = data.subset(perm)
            self._train_set = data
        return self._train_set

    def augment(self, train: bool) -> BatchAugment:
        mean, std = self.train_set.mean_std()
        if train and self.config.data.augment:
            return BatchAugment(mean, std)
        return BatchAugment(mean, std, pad=0, flip=False)

    def train_loader(self) -> TensorLoader:
        tc = self.config.train
        return TensorLoader(self.train_set, tc.batch_size, shuffle=True,
                            augment=self.augment(True), seed=self.config.seed,
                            device=self.device, channels_last=tc.channels_last,
                            return_indices=True)

    def heldout_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A fixed, seeded subset of the test split, preprocessed once for every arch."""
        ec, dc = self.config.evaluate, self.config.data
        test = load_dataset(dc.dataset, dc.source, "test")
        gen = torch.Generator().manual_seed(ec.arch_seed)
        n = min(ec.eval_images, len(test)) if ec.eval_images else len(test)
        test = test.subset(torch.randperm(len(test), generator=gen)[:n])
        loader = TensorLoader(test, ec.batch_size, shuffle=False, augment=self.augment(False),
                              drop_last=False, device=self.device,
                              channels_last=self.config.train.channels_last)
        return [(b[0], b[1]) for b in loader]

    def recal_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        ec = self.config.evaluate
        loader = TensorLoader(self.train_set, ec.recal_batch_size, shuffle=True,
                              augment=self.augment(True), seed=ec.arch_seed + 1,
                              device=self.device, channels_last=self.config.train.channels_last)
        batches = []
        for b in loader:
            if len(batches) == ec.recal_batches:
                break
            batches.append((b[0], b[1]))
        return batches

    # -- stages ------------------------------------------------------------------
    def trainer(self, out: Path) -> Trainer:
        return Trainer(self.supernet, self.sampler, self.train_loader(), self.config.train, out,
                       self.config.fingerprint(), self.device, self.progress)

    def evaluator(self) -> Evaluator:
        ec = self.config.evaluate
        args = {"batches": self.recal_batches()} if ec.bn == "recalibrate" else {}
        protocol = BN_PROTOCOLS.create(ec.bn, **args)
        return Evaluator(self.supernet, self.heldout_batches(), protocol)

    def arch_sample(self) -> list[Sample]:
        """The archs to rank: the whole space, or ``n_archs`` distinct seeded draws."""
        ec = self.config.evaluate
        if ec.archs == "all" or ec.n_archs >= len(self.space):
            return list(self.space.enumerate())
        rng = random.Random(ec.arch_seed)
        ids = rng.sample(range(len(self.space)), ec.n_archs)
        return [self.space.decode(i) for i in ids]


def build(config: RunConfig | str, progress: bool = True) -> Pipeline:
    return Pipeline(load_config(config) if isinstance(config, str) else config, progress)


def train(config: RunConfig | str, out: str | Path, resume: bool = False,
          progress: bool = True) -> Pipeline:
    """Train the supernet into ``out`` (checkpoint + metrics.jsonl)."""
    pipe = build(config, progress)
    out = Path(out)
    atomic_write_json(out / "config.json", pipe.config.to_dict())
    history = pipe.trainer(out).fit(resume=resume)
    pipe.sampler.plot_log([r["sampler"] for r in history if "sampler" in r], out / "sampling.png")
    return pipe


def rank(config: RunConfig | str, out: str | Path, progress: bool = True,
         pipe: Pipeline | None = None, report_dir: str | Path | None = None) -> dict[str, Any]:
    """Score archs with the trained supernet in ``out`` and compare with the oracle.

    The report goes to ``report_dir`` (default ``out``), so one supernet can be
    ranked under several evaluation protocols.
    """
    from .report import ranking_report

    pipe = pipe or build(config, progress)
    out = Path(out)
    _load_trained(pipe, out)
    archs = pipe.arch_sample()
    evaluator = pipe.evaluator()
    start = time.perf_counter()
    scores = evaluator.score_many(archs, progress=progress,
                                   workers=pipe.config.evaluate.workers)
    seconds = time.perf_counter() - start
    return ranking_report(pipe, archs, scores, evaluator.describe(), seconds,
                          Path(report_dir) if report_dir else out)


def search(config: RunConfig | str, out: str | Path, optimizer: str = "evolution",
           budget: int = 100, seed: int = 0, options: dict[str, Any] | None = None,
           progress: bool = True, pipe: Pipeline | None = None,
           limits: dict[str, float] | None = None) -> dict[str, Any]:
    """Search the space for the arch the trained supernet in ``out`` scores highest.

    The study is stored in ``out/search.db`` (one study per optimiser and seed), so a
    search continues where it stopped; ``search.json`` / ``search.png`` report the
    incumbent's true accuracy and regret when the space has a ground truth (NB201).
    ``limits`` caps the stand-alone network's complexity, e.g. ``{"params": 1e6}``
    (keys of the space family's ``complexity``: ``params``, ``flops``).
    """
    from .search.report import search_report
    from .search.study import ArchSearch

    pipe = pipe or build(config, progress)
    out = Path(out)
    state = _load_trained(pipe, out)
    evaluator = pipe.evaluator()
    scoring = ("bn", "recal_batches", "recal_batch_size", "eval_images", "batch_size", "arch_seed")
    identity = {"checkpoint": {**pipe.config.fingerprint(), "step": state["step"]},
                "evaluate": {k: pipe.config.to_dict()["evaluate"][k] for k in scoring},
                **({"limits": limits} if limits else {})}
    study = ArchSearch(pipe.space, evaluator.score, optimizer, seed=seed,
                       storage=out / "search.db", canonical=pipe.supernet.canonical,
                       options=options, identity=identity,
                       constraint=complexity_limit(pipe.complexity, limits) if limits else None)
    result = study.run(budget, progress=progress)
    truth = pipe.ground_truth
    return search_report(result, out, study.identity,
                         truth=truth.accuracy if truth else None,
                         optimum=truth.best() if truth else None,
                         seconds=sum(t["seconds"] for t in result.trials))


def cached_complexity(family: SpaceFamily, **config: Any) -> Callable[[Sample], dict[str, float]]:
    """``family.complexity`` at the run's own ``config`` (width, depth...), measured once per arch."""
    cache: dict[tuple, dict[str, float]] = {}

    def measure(arch: Sample) -> dict[str, float]:
        key = tuple(sorted(arch.items()))
        if key not in cache:
            cache[key] = family.complexity(arch, **config)
        return cache[key]

    return measure


def complexity_limit(measure: SpaceFamily | Callable[[Sample], dict[str, float]],
                     limits: dict[str, float]) -> Callable[[Sample], str | None]:
    """arch -> None within ``limits`` of the stand-alone network, else what it exceeds.

    ``measure`` is an arch's complexity (e.g. :attr:`Pipeline.complexity`, at the run's
    width), or a family measured at its defaults.
    """
    bad = {k: v for k, v in limits.items() if not v > 0}
    if bad:
        raise ConfigError(f"complexity limits must be positive, got {bad}")
    if isinstance(measure, SpaceFamily):
        measure = cached_complexity(measure)

    def why_not(arch: Sample) -> str | None:
        measured = measure(arch)
        unknown = sorted(set(limits) - set(measured))
        if unknown:
            raise ConfigError(f"unknown complexity limit(s) {unknown}; known: {sorted(measured)}")
        over = [f"{k} {measured[k]:,.0f} > {limit:,.0f}" for k, limit in sorted(limits.items())
                if measured[k] > limit]
        return "; ".join(over) or None

    return why_not


def _load_trained(pipe: Pipeline, out: Path) -> dict[str, Any]:
    """Load the checkpoint in ``out`` into the pipeline's supernet, ready to evaluate."""
    state = load_checkpoint(out / CHECKPOINT, pipe.config.fingerprint())
    pipe.supernet.load_state_dict(state["model"])
    pipe.supernet.to(pipe.device)
    if pipe.config.train.channels_last:
        pipe.supernet.to(memory_format=torch.channels_last)
    return state


def run(config: RunConfig | str, out: str | Path, resume: bool = False,
        progress: bool = True) -> dict[str, Any]:
    """Train, then rank: the whole pipeline."""
    pipe = train(config, out, resume=resume, progress=progress)
    return rank(pipe.config, out, progress=progress, pipe=pipe)
