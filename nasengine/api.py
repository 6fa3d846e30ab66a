"""Python API: the same pipeline the CLI runs (train -> rank), one function each.

>>> from nasengine import api
>>> cfg = api.load_config("demo")
>>> api.run(cfg, "runs/demo")          # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import json
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Sequence

import numpy as np
import torch

from .checkpoint import atomic_write_json, check_finite, load_checkpoint
from .config import RunConfig, load_config
from .data import BatchAugment, ImageDataset, TensorLoader, load_dataset
from .device import resolve_device, set_threads
from .distributed import is_writer, place, sharded
from .errors import ConfigError
from .evaluate import BN_PROTOCOLS, Evaluator
from .registry import Registry
from .runfolder import guard_overwrite, locked, remove_stale_temps
from .samplers import SAMPLERS, Sampler
from .samplers.base import SamplerContext
from .space import Sample, SearchSpace
from .families import SpaceFamily, get_family

if TYPE_CHECKING:  # pragma: no cover
    from .benchmark.truth import GroundTruth
from .supernet.base import Supernet
from .train import CHECKPOINT, METRICS, Trainer
from .validation import at_least, check_rule, validate_config, warn_if

__all__ = ["build", "load_config", "rank", "run", "search", "study", "train"]


class Pipeline:
    """The objects one config describes, built once and shared by train and rank."""

    def __init__(self, config: RunConfig, progress: bool = True) -> None:
        validate_config(config)  # also a config built or edited in Python
        set_threads(config.threads)
        self.config, self.progress = config, progress
        self.device = place(resolve_device(config.device))  # under torchrun: its GPU
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
        BN_PROTOCOLS.get(config.evaluate.bn)  # a bad name fails now, not after training
        self.sampler: Sampler = SAMPLERS.create(config.sampler.name, config.sampler.options,
                                                space=self.space, seed=config.seed)
        self._train_set: ImageDataset | None = None
        self._valid_set: ImageDataset | None = None
        self._truths: dict[tuple, GroundTruth | None] = {}
        self._samples: dict[tuple, list[Sample]] = {}  # evaluate settings -> the drawn archs
        # arch -> params/FLOPs of its stand-alone network at this run's width, measured once
        self.complexity = cached_complexity(self.family, **self.options)

    @property
    def ground_truth(self) -> GroundTruth | None:
        """The space's ground truth for this run's oracle settings (None: the space has none);
        loaded once per setting, so a report against another dataset's truth gets that truth."""
        ec = self.config.evaluate
        key = (ec.oracle, ec.oracle_dataset, ec.oracle_split)
        if key not in self._truths:
            self._truths[key] = self.family.ground_truth(ec)
        return self._truths[key]

    # -- data ------------------------------------------------------------------
    @property
    def train_set(self) -> ImageDataset:
        if self._train_set is None:
            dc = self.config.data
            data = load_dataset(dc.dataset, dc.source, "train")
            if len(data.classes) > self.config.supernet.num_classes:
                raise ConfigError(f"supernet.num_classes = {self.config.supernet.num_classes} "
                                  f"is below the {len(data.classes)} classes of {dc.dataset}; "
                                  f"set supernet.num_classes = {len(data.classes)}")
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

    def sampler_context(self) -> SamplerContext:
        """What learning samplers may use: the supernet, validation batches, complexity."""
        context = SamplerContext(self.supernet, self.device, self.complexity,
                                 proxy_scores=self.proxy_prior)
        if self.valid_set is not None:
            tc = self.config.train
            loader = TensorLoader(self.valid_set, tc.batch_size, shuffle=True,
                                  augment=self.augment(False), seed=self.config.seed + 1,
                                  device=self.device, channels_last=tc.channels_last)
            context.valid_batches = len(loader)
            context.valid_batch = _batch_stream(loader)
        return context

    def proxy_prior(self, archs: Sequence[Sample]) -> np.ndarray:
        """The training-free prior of ``archs`` (``proxies.hybrid`` by log-rank sum), for
        samplers; the proxy table is only built when a sampler asks."""
        from .proxies.setup import configured_prior

        return configured_prior(self.config, archs, self.device, self.progress)

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
                       self.config.fingerprint(), self.device, self.progress,
                       context=self.sampler_context(), callbacks=self.epoch_callbacks(),
                       reshapers=self.reshapers())

    def reshapers(self) -> list[Any]:
        """Epoch-end trainer hooks that reshape the supernet (few-shot splitting)."""
        if not self.config.fewshot.strategy:
            return []
        from .fewshot.callback import FewShotSplitting

        return [FewShotSplitting(self.supernet)]

    def epoch_callbacks(self) -> list[Any]:
        """Epoch-end trainer hooks the config asks for (ranking over training)."""
        if not self.config.evaluate.track_every:
            return []
        from .tracking import RankTracker

        return [RankTracker.from_pipeline(self)]

    def evaluator(self) -> Evaluator:
        ec = self.config.evaluate
        args = {"batches": self.recal_batches()} if ec.bn == "recalibrate" else {}
        protocol = BN_PROTOCOLS.create(ec.bn, **args)
        return Evaluator(self.supernet, self.heldout_batches(), protocol)

    def arch_sample(self) -> list[Sample]:
        """The archs to rank: the whole space, or ``n_archs`` distinct seeded draws.

        Drawn once per setting (train's proxy prefetch and rank ask for the same archs),
        so a warning about the setting prints once.
        """
        ec = self.config.evaluate
        key = (ec.archs, ec.n_archs, ec.arch_seed)
        if key not in self._samples:
            self._samples[key] = self._draw_archs()
        return list(self._samples[key])

    def _draw_archs(self) -> list[Sample]:
        ec = self.config.evaluate
        warn_if(ec.archs == "random" and ec.n_archs > len(self.space),
                f"evaluate.n_archs = {ec.n_archs} is above the {len(self.space)} archs of the "
                f"space; ranking all of them (set evaluate.archs = \"all\" to say so)")
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
        raise ConfigError(f"data.valid_images={n} must leave training images of the {len(data)}: "
                          f"use 1..{len(data) - 1}, or 0 to hold none out")
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed + 7919))
    return data.subset(perm[n:]), data.subset(perm[:n])


def _batch_stream(loader: TensorLoader) -> Any:
    """k -> the k-th batch of an endless, seeded pass over ``loader`` (a pure function of k)."""
    per_epoch = len(loader)

    def batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if loader.epoch != k // per_epoch:
            loader.set_epoch(k // per_epoch)
        x, y, _ = loader.batch_at(k % per_epoch)  # no augmentation: no random draws
        return x, y

    return batch


def build(config: RunConfig | str, progress: bool = True) -> Pipeline:
    return Pipeline(load_config(config) if isinstance(config, str) else config, progress)


def train(config: RunConfig | str, out: str | Path, resume: bool = False,
          progress: bool = True, overwrite: bool = False) -> Pipeline:
    """Train the supernet into ``out`` (checkpoint + metrics.jsonl).

    A folder that holds a checkpoint is continued (``resume``) or replaced
    (``overwrite``), never silently restarted; the folder is locked while training,
    and ``config.json`` is written only once the checkpoint (if any) is accepted.
    """
    pipe = build(config, progress)
    out = Path(out)
    with locked(out) if is_writer() else contextlib.nullcontext():  # torchrun: rank 0's
        if is_writer():
            remove_stale_temps(out)
        guard_overwrite(out / CHECKPOINT, resume, overwrite, (out / METRICS,))
        trainer = pipe.trainer(out)
        if resume:
            trainer.restore()
        if is_writer():  # under torchrun only rank 0 writes
            atomic_write_json(out / "config.json", pipe.config.to_dict())
        with _proxies_meanwhile(pipe, trainer.epoch < trainer.config.epochs):
            history = trainer.fit()
    if is_writer():
        pipe.sampler.plot_log([r["sampler"] for r in history if "sampler" in r],
                              out / "sampling.png")
    return pipe


def _proxies_meanwhile(pipe: Pipeline, training: bool) -> ContextManager[None]:
    """The report's proxies computed on the CPU time training leaves idle (rank 0 only)."""
    if not (training and is_writer() and pipe.config.proxies.names):
        return contextlib.nullcontext()
    from .proxies.prefetch import prefetch_proxies

    return prefetch_proxies(pipe.config, [pipe.space.format(a) for a in pipe.arch_sample()])


def rank(config: RunConfig | str, out: str | Path, progress: bool = True,
         pipe: Pipeline | None = None, report_dir: str | Path | None = None) -> dict[str, Any]:
    """Score archs with the trained supernet in ``out`` and compare with the oracle.

    The report goes to ``report_dir`` (default ``out``), so one supernet can be
    ranked under several evaluation protocols. Under torchrun the archs are sharded over
    the ranks (equivalent ones on the same rank) and rank 0 writes the report; the
    other ranks return an empty dict.
    """
    from .report import ranking_report

    pipe = pipe or build(config, progress)
    out = Path(out)
    state = _load_trained(pipe, out)
    archs = pipe.arch_sample()
    evaluator = pipe.evaluator()
    start = time.perf_counter()
    keys = [tuple(pipe.supernet.canonical(a).items()) for a in archs]
    scores = sharded(lambda part: evaluator.score_many(
        part, progress=progress and is_writer(), workers=pipe.config.evaluate.workers),
        archs, keys, pipe.device)
    evaluator.distinct_evaluations = len(set(keys))  # over all ranks
    seconds = time.perf_counter() - start
    if not is_writer():
        return {}
    protocol = {**evaluator.describe(), "checkpoint": _trained_for(pipe, state)}
    ec, sc = pipe.config.evaluate, pipe.config.supernet
    return ranking_report(
        ranking_data(pipe, archs, scores, protocol, progress),
        Path(report_dir) if report_dir else out, seconds=seconds, config=pipe.config.to_dict(),
        title=f"{sc.space} C={sc.channels} N={sc.cells}, BN={ec.bn}",
        n_bootstrap=ec.bootstrap, seed=ec.arch_seed)


def ranking_data(pipe: Pipeline, archs: list[Sample], scores: list[float],
                 protocol: dict[str, Any], progress: bool = True) -> Any:
    """The report's data: the oracle's truth and #params, and the configured proxies
    (with the hybrid ranking) on the same archs."""
    from .report import RankingData

    ec, ground = pipe.config.evaluate, pipe.ground_truth
    names = [pipe.space.format(a) for a in archs]
    params = ground.params_of(names) if ground else None
    if params is None:  # the space's table has no #params column: measure them
        params = [pipe.complexity(a)["params"] / 1e6 for a in archs]
    data = RankingData(
        names, scores, ground.accuracies(names) if ground else None, params,
        {**protocol, "archs": ec.archs, "oracle": ground.name if ground else None},
        optimum=ground.best() if ground else None)
    pc = pipe.config.proxies
    if pc.names:  # the rivals shown: the configured proxies and what the hybrid reads
        from .proxies.hybrid import hybrid_ranking, hybrid_rule
        from .proxies.setup import proxy_columns, proxy_table

        data.rivals = proxy_columns(pipe.config, archs, progress,
                                    proxy_table(pipe.config, device=pipe.device))
        rule = hybrid_rule(pc)
        data.hybrid, data.hybrid_rule = hybrid_ranking(data, pc.hybrid, rule), rule.label
    return data


def search(config: RunConfig | str, out: str | Path, optimizer: str = "evolution",
           budget: int = 100, seed: int = 0, options: dict[str, Any] | None = None,
           progress: bool = True, pipe: Pipeline | None = None,
           limits: dict[str, float] | None = None, storage: str | Path | None = None,
           study: str | None = None, cost: str | None = None,
           score: str = "supernet", reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Search the space for the arch the trained supernet in ``out`` scores highest.

    The study is stored in ``storage`` (default ``out/search.db``; any SQLAlchemy URL)
    under ``study`` (default one per optimiser and seed), so a search continues where
    it stopped and processes started on the same study work on it together;
    ``search.json`` / ``search.png`` report the incumbent's true accuracy and regret
    when the space has a ground truth (NB201). ``limits`` caps the stand-alone
    network's complexity, e.g. ``{"params": 1e6}`` (keys of the space family's
    ``complexity``: ``params``, ``flops``). ``cost`` makes it hardware-aware: the
    score against that cost (:func:`cost_measure`), for a multi-objective optimiser
    (``nsga2``); ``search.json`` then holds the Pareto front. ``score`` is what the
    search maximises: ``supernet`` (its accuracy), ``hybrid`` (the supernet and
    ``proxies.hybrid`` by ``proxies.rule`` among the evaluation sample; see
    :mod:`nasengine.proxies.hybrid`) or ``proxies`` (those proxies alone: the
    training-free rival). ``reference`` (``{"scores", "protocol"}``) gives the
    supernet's scores of the evaluation sample when the caller already has them from
    this checkpoint (e.g. a ranking's); the hybrid then does not score the sample again.
    ``optimizer="controller"`` proposes draws from the run's trained sampler (ENAS's final
    selection: sample N archs from the controller, keep the one the supernet scores best).
    """
    from .search.report import TRADE_OFF, pareto_report, search_report
    from .search.arch_search import ArchSearch

    check_rule("search budget", budget, at_least(1))  # before a study file is created
    pipe = pipe or build(config, progress)
    out = Path(out)
    measure = cost_measure(pipe, cost) if cost else None  # a bad name fails before any work
    state = _load_trained(pipe, out)
    pipe.sampler.load_state_dict(state["sampler"])  # the trained sampler, for optimizers that draw from it
    evaluator = pipe.evaluator()
    scoring = ("bn", "recal_batches", "recal_batch_size", "eval_images", "batch_size", "arch_seed")
    identity = {"checkpoint": {**pipe.config.fingerprint(), "step": state["step"]},
                "evaluate": {k: pipe.config.to_dict()["evaluate"][k] for k in scoring},
                **({"limits": limits} if limits else {}), **({"cost": cost} if cost else {})}
    objective, canonical, described = SEARCH_SCORES.create(score, pipe=pipe, evaluator=evaluator,
                                                           progress=progress, reference=reference)
    identity.update(described)
    directions: tuple[str, ...] = ("maximize",)
    if measure is not None:
        single, directions = objective, TRADE_OFF
        objective = lambda arch: (single(arch), measure(arch))  # noqa: E731
    search = ArchSearch(pipe.space, objective, optimizer, seed=seed,
                        storage=storage or out / "search.db", study_name=study,
                        canonical=canonical, options=options, identity=identity,
                        constraint=complexity_limit(pipe.complexity, limits) if limits else None,
                        directions=directions, sampler=pipe.sampler)
    result = search.run(budget, progress=progress)
    ground = pipe.ground_truth
    truth, optimum = (ground.accuracy, ground.best()) if ground else (None, None)
    extra: dict[str, Any] = {"study": search.location()}
    if cost:
        extra["pareto"] = pareto_report(result, out, cost, truth=truth,
                                        space_points=_truth_points(pipe, cost))
    return search_report(result, out, search.identity, truth=truth, optimum=optimum,
                         seconds=sum(t["seconds"] for t in result.trials),
                         checkpoint=_trained_for(pipe, state), extra=extra)


def cost_measure(pipe: Pipeline, name: str) -> Any:
    """arch -> its cost ``name``: a column of the space's ground-truth table (NB201:
    ``params_M_cifar10``, ``flops_M_cifar10``, the ``latency_ms_*`` devices), or the
    stand-alone network's ``params`` / ``flops`` (any space)."""
    table = _table(pipe)
    if table is not None and name in table.metrics():
        return lambda arch: table.query(pipe.space.format(arch), name)
    if name in ("params", "flops"):  # at the run's width, as search --max-params measures
        return lambda arch: pipe.complexity(arch)[name]
    columns = [m for m in (table.metrics() if table else []) if "_acc" not in m]
    raise ConfigError(f"unknown cost {name!r}; known: params, flops"
                      + (f", {', '.join(columns)}" if columns else ""))


def _table(pipe: Pipeline) -> Any:
    """The space's ground-truth table (its :class:`Benchmark`), or None."""
    ground = pipe.ground_truth
    return ground.benchmark if ground else None


def _truth_points(pipe: Pipeline, cost: str) -> Any:
    """(true accuracy, cost) of every arch, when the ground-truth table has the cost."""
    ground = pipe.ground_truth
    if ground is None or cost not in ground.benchmark.metrics():
        return None
    table, archs = ground.benchmark, ground.benchmark.archs
    return np.c_[table.query_many(archs, ground.metric), table.query_many(archs, cost)]


SearchScore = tuple[Callable[[Sample], float], Any, dict[str, Any]]
"""(objective, the canonical form it may share evaluations by, what the study records)."""
SEARCH_SCORES: Registry[SearchScore] = Registry("search score")


@SEARCH_SCORES.register("supernet")
def _supernet_score(pipe: Pipeline, evaluator: Evaluator, progress: bool,
                    reference: dict[str, Any] | None) -> SearchScore:
    return evaluator.score, pipe.supernet.canonical, {}


ArchValues = Callable[[Sample], dict[str, float]]


def _proxy_reference(pipe: Pipeline, progress: bool) -> tuple[ArchValues, dict, dict]:
    """arch -> the proxy values the ``proxies.hybrid`` members need (from the cache), the
    members, and those values over the evaluation sample (the rank reference)."""
    from .proxies.setup import check_names, proxy_table
    from .proxies.table import expand

    check_names(pipe.config)
    pc = pipe.config.proxies
    members, needed = expand(pc.hybrid, pc.ensemble or None)
    table = proxy_table(pipe.config, device=pipe.device)
    reference = table.columns(pipe.arch_sample(), needed, progress=progress, workers=pc.workers)

    def values(arch: Sample) -> dict[str, float]:
        return {k: float(v[0]) for k, v in table.columns([arch], needed, progress=False).items()}

    return values, members, reference


def _described(pipe: Pipeline, name: str, rule: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    pc = pipe.config.proxies
    return {"score": {"name": name, "members": pc.hybrid, **(rule or {}),
                      "proxies": {"seed": pc.seed, "batch": pc.batch_size}}}


@SEARCH_SCORES.register("hybrid")
def _hybrid_score(pipe: Pipeline, evaluator: Evaluator, progress: bool,
                  reference: dict[str, Any] | None) -> SearchScore:
    """The ``proxies.rule`` against the evaluation sample: its archs are scored by the
    supernet (unless ``reference`` has them) and the proxies (from their cache) first."""
    from .proxies.hybrid import hybrid_rule

    values, members, per_arch = _proxy_reference(pipe, progress)
    supernet = _sample_scores(pipe, evaluator, reference, progress)
    chosen = hybrid_rule(pipe.config.proxies)
    rule = chosen.objective(supernet, members, per_arch)
    supernet_score = _shared(evaluator.score, pipe.supernet.canonical)

    return ((lambda arch: rule(supernet_score(arch), values(arch))), None,
            _described(pipe, "hybrid", chosen.describe()))


def _sample_scores(pipe: Pipeline, evaluator: Evaluator, reference: dict[str, Any] | None,
                   progress: bool) -> list[float]:
    """The supernet's scores of the evaluation sample: ``reference["scores"]`` when they
    were made under this evaluator's protocol for a sample of the same size, else scored."""
    sample = pipe.arch_sample()
    if reference is None:
        return evaluator.score_many(sample, progress=progress,
                                    workers=pipe.config.evaluate.workers)
    mine = json.loads(json.dumps(evaluator.describe()))
    mine.pop("distinct_evaluations")  # a count of the last scoring, not the protocol
    given = {k: reference["protocol"].get(k) for k in mine}
    if given != mine or len(reference["scores"]) != len(sample):
        raise ConfigError(f"the reference supernet scores ({len(reference['scores'])} archs, "
                          f"protocol {given}) are not this search's ({len(sample)} archs, "
                          f"protocol {mine}); pass none to score the evaluation sample")
    return [float(v) for v in reference["scores"]]


@SEARCH_SCORES.register("proxies")
def _proxies_score(pipe: Pipeline, evaluator: Evaluator, progress: bool,
                   reference: dict[str, Any] | None) -> SearchScore:
    """The training-free rival of a search: the ``proxies.hybrid`` members alone (default
    AZ-NAS's ensemble), by log-rank against the evaluation sample; no supernet score."""
    from .proxies.hybrid import ProxyObjective

    values, members, per_arch = _proxy_reference(pipe, progress)
    rule = ProxyObjective(members, per_arch)
    return (lambda arch: rule(values(arch))), None, _described(pipe, "proxies")


def _shared(score: Callable[[Sample], float], canonical: Callable[[Sample], Any]
            ) -> Callable[[Sample], float]:
    """``score`` evaluated once per canonical arch (the proxies differ within a class)."""
    cache: dict[tuple, float] = {}

    def shared(arch: Sample) -> float:
        key = tuple(canonical(arch).items())
        if key not in cache:
            cache[key] = score(arch)
        return cache[key]

    return shared


def generate(config: RunConfig | str, out: str | Path, limits: dict[str, float],
             refine: int = 0, seed: int = 0, progress: bool = True,
             pipe: Pipeline | None = None) -> dict[str, Any]:
    """The arch the trained ShiftNAS generator in ``out`` proposes for ``limits``
    (e.g. ``{"params": 1e6}``, the units of :func:`search`), with its supernet score and
    complexity; ``refine`` > 0 adds a constrained search of that many trials (see
    :mod:`nasengine.generate`). Writes ``out/generate.json``."""
    from .generate import generate as propose_for_budget

    pipe = pipe or build(config, progress)
    state = _load_trained(pipe, Path(out))
    return propose_for_budget(pipe, Path(out), state, limits, refine, seed, progress)


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
    """Load the checkpoint in ``out`` into the pipeline's supernet, ready to evaluate.

    Weights that are not finite are refused (every arch would score the same); an
    unfinished run is used, with a warning, and reports record its epoch.
    """
    state = load_checkpoint(out / CHECKPOINT, pipe.config.fingerprint())
    check_finite(state["model"], out / CHECKPOINT)
    done = _trained_for(pipe, state)
    warn_if(not done["finished"], f"{out / CHECKPOINT} is from epoch {done['epoch']} of "
            f"{done['epochs']} (training unfinished); finish it with nasengine train --resume "
            f"--out {out}, or read these results as those of a partly trained supernet")
    pipe.supernet.load_state_dict(state["model"])
    pipe.supernet.to(pipe.device)
    if pipe.config.train.channels_last:
        pipe.supernet.to(memory_format=torch.channels_last)
    return state


def _trained_for(pipe: Pipeline, state: dict[str, Any]) -> dict[str, Any]:
    """How far the checkpoint got: its epoch, the run's length, whether it finished."""
    epochs = pipe.config.train.epochs
    return {"epoch": state["epoch"], "epochs": epochs, "finished": state["epoch"] >= epochs}


def study(config: str | Path, out: str | Path, workers: int | None = None,
          overrides: Sequence[str] = (), report_only: bool = False,
          progress: bool = True, baseline: str | None = None) -> dict[str, Any]:
    """Run (or resume) the study TOML ``config`` in ``out``; returns the report (study.json).

    Cells (method x seed) run in ``workers`` processes (default: the study's ``workers``);
    ``overrides`` (``key=value``) apply to every cell; ``report_only`` trains nothing;
    ``baseline`` tests every row against that method instead of the study's baseline.
    """
    from .study import load_study, run_study

    return run_study(load_study(config, list(overrides), baseline), out, workers=workers,
                     report_only=report_only, log=print if progress else lambda _: None)


def run(config: RunConfig | str, out: str | Path, resume: bool = False,
        progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Train, then rank: the whole pipeline."""
    pipe = train(config, out, resume=resume, progress=progress, overwrite=overwrite)
    return rank(pipe.config, out, progress=progress, pipe=pipe)
