"""Python API: the same pipeline the CLI runs (train -> rank), one function each.

>>> from nasengine import api
>>> cfg = api.load_config("demo")
>>> api.run(cfg, "runs/demo")          # doctest: +SKIP
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import torch

from .checkpoint import atomic_write_json, load_checkpoint
from .config import RunConfig, load_config
from .data import BatchAugment, ImageDataset, TensorLoader, load_cifar
from .device import resolve_device, set_threads
from .errors import ConfigError
from .evaluate import BN_PROTOCOLS, Evaluator
from .samplers import SAMPLERS, Sampler
from .samplers.base import SamplerContext
from .space import Sample, SearchSpace
from .spaces import SpaceFamily, get_family
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
        self.space: SearchSpace = self.family.space()
        torch.manual_seed(config.seed)
        sc = config.supernet
        self.supernet: Supernet = self.family.build_supernet(
            sc.sharing, channels=sc.channels, cells=sc.cells, num_classes=sc.num_classes)
        if config.fewshot.strategy:  # the tree wraps the supernet; it draws no random numbers
            from .fewshot import FewShotSupernet

            self.supernet = FewShotSupernet.from_config(self.supernet, config.fewshot,
                                                        config.train.epochs, config.seed)
        self.sampler: Sampler = SAMPLERS.create(config.sampler.name, space=self.space,
                                                seed=config.seed, **config.sampler.options)
        self._train_set: ImageDataset | None = None
        self._valid_set: ImageDataset | None = None
        self._complexity: dict[str, dict[str, float]] = {}

    # -- data ------------------------------------------------------------------
    @property
    def train_set(self) -> ImageDataset:
        if self._train_set is None:
            dc = self.config.data
            data = load_cifar(dc.source, split="train", dataset=dc.dataset)
            if dc.train_limit:
                perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(
                    self.config.seed))[: dc.train_limit]
                data = data.subset(perm)
            self._train_set, self._valid_set = _hold_out(data, dc.valid_images, self.config.seed)
        return self._train_set

    @property
    def valid_set(self) -> ImageDataset | None:
        """The held-out split of the training set (``data.valid_images``), or None."""
        _ = self.train_set
        return self._valid_set

    def complexity(self, arch: Sample) -> dict[str, float]:
        """Params/FLOPs of ``arch``'s stand-alone network at this run's width (cached)."""
        key = self.space.format(arch)
        if key not in self._complexity:
            sc = self.config.supernet
            self._complexity[key] = self.family.complexity(
                arch, channels=sc.channels, cells=sc.cells, num_classes=sc.num_classes)
        return self._complexity[key]

    def sampler_context(self) -> SamplerContext:
        """What learning samplers may use: the supernet, validation batches, complexity."""
        context = SamplerContext(self.supernet, self.device, self.complexity)
        if self.valid_set is not None:
            tc = self.config.train
            loader = TensorLoader(self.valid_set, tc.batch_size, shuffle=True,
                                  augment=self.augment(False), seed=self.config.seed + 1,
                                  device=self.device, channels_last=tc.channels_last)
            context.valid_batches = len(loader)
            context.valid_batch = _batch_stream(loader)
        return context

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
        test = load_cifar(dc.source, split="test", dataset=dc.dataset)
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
                       self.config.fingerprint(), self.device, self.progress,
                       context=self.sampler_context())

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


def _hold_out(data: ImageDataset, n: int, seed: int) -> tuple[ImageDataset, ImageDataset | None]:
    """(train, valid): ``n`` seeded images held out of ``data`` (none when ``n`` is 0)."""
    if not n:
        return data, None
    if not 0 < n < len(data):
        raise ConfigError(f"data.valid_images={n} must leave training images: use 1..{len(data) - 1}")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed + 7919))
    return data.subset(perm[n:]), data.subset(perm[:n])


def _batch_stream(loader: TensorLoader) -> Any:
    """k -> the k-th batch of an endless, seeded pass over ``loader`` (a pure function of k)."""
    per_epoch = len(loader)

    def batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        loader.set_epoch(k // per_epoch)
        order, bs, i = loader.order(), loader.batch_size, k % per_epoch
        x, y = loader.images[order[i * bs:(i + 1) * bs]], loader.labels[order[i * bs:(i + 1) * bs]]
        x = loader.augment(x, None) if loader.augment is not None else x.float().div_(255)
        if loader.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    return batch


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

    ``optimizer="controller"`` proposes draws from the run's trained sampler (ENAS's final
    selection: sample N archs from the controller, keep the one the supernet scores best).

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
    pipe.sampler.load_state_dict(state["sampler"])  # the trained sampler, for optimizers that draw from it
    evaluator = pipe.evaluator()
    scoring = ("bn", "recal_batches", "recal_batch_size", "eval_images", "batch_size", "arch_seed")
    identity = {"checkpoint": {**pipe.config.fingerprint(), "step": state["step"]},
                "evaluate": {k: pipe.config.to_dict()["evaluate"][k] for k in scoring},
                **({"limits": limits} if limits else {})}
    study = ArchSearch(pipe.space, evaluator.score, optimizer, seed=seed,
                       storage=out / "search.db", canonical=pipe.supernet.canonical,
                       options=options, identity=identity,
                       constraint=complexity_limit(pipe.family, limits) if limits else None,
                       sampler=pipe.sampler)
    result = study.run(budget, progress=progress)
    truth, optimum = _ground_truth(pipe)
    return search_report(result, out, study.identity, truth=truth, optimum=optimum,
                         seconds=sum(t["seconds"] for t in result.trials))


def complexity_limit(family: SpaceFamily, limits: dict[str, float]) -> Any:
    """arch -> None within ``limits`` of the stand-alone network, else what it exceeds."""
    bad = {k: v for k, v in limits.items() if not v > 0}
    if bad:
        raise ConfigError(f"complexity limits must be positive, got {bad}")

    def why_not(arch: Sample) -> str | None:
        measured = family.complexity(arch)
        unknown = sorted(set(limits) - set(measured))
        if unknown:
            raise ConfigError(f"unknown complexity limit(s) {unknown}; known: {sorted(measured)}")
        over = [f"{k} {measured[k]:,.0f} > {limit:,.0f}" for k, limit in sorted(limits.items())
                if measured[k] > limit]
        return "; ".join(over) or None

    return why_not


def _ground_truth(pipe: Pipeline) -> tuple[Any, float | None]:
    """(arch string -> true accuracy, best in the table), or (None, None) off NB201."""
    from .benchmark import NB201Table

    if pipe.config.supernet.space != "nb201":
        return None, None
    ec = pipe.config.evaluate
    table = NB201Table.from_path(ec.oracle)
    truth = lambda arch: table.accuracy(arch, dataset=ec.oracle_dataset, split=ec.oracle_split)  # noqa: E731
    return truth, table.best_accuracy(dataset=ec.oracle_dataset, split=ec.oracle_split)


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
