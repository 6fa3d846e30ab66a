"""Does PA&DA rank NB201 better than uniform sampling, and what does it cost?

Trains one supernet per (variant, seed) - uniform, PA only, DA only, PA&DA - at one
preset, ranks it against NB201 beside the #params proxy, and measures

* the wall-clock per epoch (``metrics.jsonl`` "seconds"), as overhead over uniform;
* the gradient variance of the shared weights (stem, reduction blocks, head, classifier:
  every parameter outside the choice modules). At the end of training, M batches are
  drawn with the run's own final sampler (its last path distribution and data stream);
  each gives the unclipped gradient g_m of the mean cross-entropy (train-mode BN). The
  variance is ``sum_m ||g_m - mean(g)||^2 / (M - 1)`` (the trace of the covariance);
  "relative" divides it by ``||mean(g)||^2``. For PA&DA variants the same is measured on
  the same weights with uniform paths and data, which isolates the estimator's effect.

Resumable: a finished run is not retrained, a finished ranking or variance is reused,
and a half-trained supernet continues from its checkpoint. Writes ``<out>/results.md``,
``<out>/results.json``; each PA&DA run's distributions are in its ``metrics.jsonl`` and
``sampling.png`` (written by the trainer).

Reproduce:
    .venv/bin/python benchmarks/bench_pada.py --preset cpu-proxy --seeds 0 1 2
Smoke (< 1 min, no meaning beyond "it runs"):
    .venv/bin/python benchmarks/bench_pada.py --smoke
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from _queue import run_cells
from _table import (RANK_COLUMNS, add_study_arguments, apply_smoke_and_out, ranking_row,
                    run_overrides, variant_table, write_results)
from nasengine import api
from nasengine.checkpoint import atomic_write_json
from nasengine.config import load_config
from nasengine.samplers import Sampler, UniformSampler
from nasengine.space import SearchSpace
from nasengine.supernet.base import Supernet
from nasengine.train import read_metrics

VARIANTS: dict[str, list[str]] = {  # name -> config overrides
    "uniform": ["sampler.name=uniform"],
    "PA": ["sampler.name=pada", "sampler.options.path=true", "sampler.options.data=false"],
    "DA": ["sampler.name=pada", "sampler.options.path=false", "sampler.options.data=true"],
    "PA&DA": ["sampler.name=pada", "sampler.options.path=true", "sampler.options.data=true"],
}
COLUMNS = {  # results.md column -> row key
    **RANK_COLUMNS, "s / epoch": "epoch_seconds",
    "overhead vs uniform (%)": "overhead_pct", "grad var": "grad_variance",
    "rel. grad var": "grad_relative_variance",
    "rel. grad var, uniform draws": "uniform_grad_relative_variance",
    "sampler ms / step": "sampler_ms_per_step", "sampler overhead (%)": "sampler_overhead_pct",
}


def variant_config(preset: str, variant: str, seed: int, extra: list[str],
                   pada_options: list[str]) -> Any:
    """The run's config; PA&DA's linear ramp gets the run length from ``train.epochs``."""
    overrides = [f"seed={seed}", *extra, *VARIANTS[variant]]
    if "sampler.name=pada" in VARIANTS[variant]:
        overrides += [f"sampler.options.{item}" for item in pada_options]
    config = load_config(preset, overrides)
    if config.sampler.name == "pada":
        config.sampler.options.setdefault("epochs", config.train.epochs)
    return config


def run_one(config: Any, out: Path, rank: bool, grad_batches: int) -> dict[str, Any]:
    """Train (resumably), rank, measure; return one row of the results."""
    pipe = api.train(config, out, resume=True, progress=False)
    seconds = [r["seconds"] for r in read_metrics(out)]
    # median: robust to an epoch that a paused or preempted worker stretched
    row: dict[str, Any] = {"epoch_seconds": statistics.median(seconds),
                           "train_seconds": statistics.median(seconds) * len(seconds)}
    if rank:
        row.update(ranking_row(config, out, pipe))
    row.update(cached(out / "grad_variance.json", lambda: variance_row(pipe, grad_batches)))
    row.update(cached(out / "sampler_overhead.json", lambda: sampler_overhead(pipe)))
    return row


def cached(path: Path, compute: Any) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    atomic_write_json(path, value)
    return value


# -- gradient variance ------------------------------------------------------------------
def shared_parameters(supernet: Supernet, space: SearchSpace) -> list[torch.nn.Parameter]:
    """Parameters every path trains: those outside every choice module."""
    in_choices: set[int] = set()
    for k in range(max(len(d.values) for d in space.decisions.values())):
        arch = {label: d.values[k % len(d.values)] for label, d in space.decisions.items()}
        for modules in supernet.choice_modules(arch).values():
            in_choices.update(id(p) for m in modules for p in m.parameters())
    return [p for p in supernet.parameters() if id(p) not in in_choices]


def gradient_variance(pipe: api.Pipeline, sampler: Sampler, batches: int) -> dict[str, float]:
    """Trace of the covariance of the shared-weight gradient over ``batches`` draws."""
    loader = pipe.train_loader()
    loader.set_epoch(pipe.config.train.epochs, index_sampler=sampler.index_sampler())
    params = shared_parameters(pipe.supernet, pipe.space)
    pipe.supernet.train()
    grads = []
    for _, (x, y, *_) in zip(range(batches), loader):
        pipe.supernet.zero_grad(set_to_none=True)
        F.cross_entropy(pipe.supernet(x, sampler.sample()).float(), y).backward()
        grads.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                                for p in params]).double().cpu())
    g = torch.stack(grads)
    variance = float(((g - g.mean(0)) ** 2).sum() / max(len(g) - 1, 1))
    mean_sq = float(g.mean(0).square().sum())
    return {"grad_variance": variance, "grad_relative_variance": variance / max(mean_sq, 1e-30),
            "grad_batches": len(g)}


def variance_row(pipe: api.Pipeline, batches: int) -> dict[str, float]:
    row = gradient_variance(pipe, pipe.sampler, batches)
    if pipe.config.sampler.name != "uniform":
        uniform = gradient_variance(pipe, UniformSampler(pipe.space, pipe.config.seed), batches)
        row.update({f"uniform_{k}": v for k, v in uniform.items() if k != "grad_batches"})
    return row


# -- the sampler's own cost ------------------------------------------------------------
def sampler_overhead(pipe: api.Pipeline, steps: int = 40) -> dict[str, float]:
    """Time in the sampler's hooks vs the rest of a training step, on the final state.

    Separates PA&DA's bookkeeping (sampling, loss weights, gradient-norm and logit-score
    updates, the epoch's index stream) from the cost of the paths it prefers, which a
    per-epoch wall-clock comparison with uniform cannot.
    """
    trainer, sampler = pipe.trainer(Path(tempfile.mkdtemp())), pipe.sampler
    spent = {"hooks": 0.0, "stream": 0.0}

    def timed(fn, bucket):
        def call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[bucket] += time.perf_counter() - t
        return call

    loader, draw = pipe.train_loader(), sampler.index_sampler()
    loader.set_epoch(pipe.config.train.epochs, index_sampler=draw and timed(draw, "stream"))
    hooked = ("observe", "sample", "loss_weights")
    for name in hooked:
        setattr(sampler, name, timed(getattr(sampler, name), "hooks"))
    step_seconds = 0.0
    try:
        for _, batch in zip(range(steps), loader):
            t = time.perf_counter()
            trainer._train_step(pipe.config.train.epochs - 1, *batch)
            step_seconds += time.perf_counter() - t
    finally:
        for name in hooked:
            delattr(sampler, name)  # back to the class's methods
    bookkeeping = spent["hooks"] / steps + spent["stream"] / len(loader)  # per step
    return {"sampler_ms_per_step": 1000 * bookkeeping,
            "sampler_overhead_pct": 100 * bookkeeping / (step_seconds / steps - bookkeeping)}


# -- the table ---------------------------------------------------------------------------
def add_overhead(rows: list[dict[str, Any]]) -> None:
    """Per seed: how much slower per epoch than uniform, in percent."""
    base = {r["seed"]: r["epoch_seconds"] for r in rows if r["variant"] == "uniform"}
    for r in rows:
        if r["seed"] in base:
            r["overhead_pct"] = 100 * (r["epoch_seconds"] / base[r["seed"]] - 1)


def markdown(rows: list[dict[str, Any]], title: str) -> str:
    return variant_table(rows, title, COLUMNS, VARIANTS)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_study_arguments(parser, list(VARIANTS),
                        "root of the runs (default runs/pada, runs/pada-smoke with --smoke)")
    parser.add_argument("--pada-option", nargs="*", default=[], metavar="KEY=VALUE",
                        help="PA&DA options for the PA/DA/PA&DA runs, e.g. param_free=mean")
    parser.add_argument("--grad-batches", type=int, default=32)
    args = parser.parse_args()
    apply_smoke_and_out(args, "pada")
    if args.smoke:
        args.grad_batches = 4
    return args


def main() -> None:
    args = parse_args()
    extra = run_overrides(args)

    def run(variant: str, seed: int, out: Path) -> dict[str, Any]:
        config = variant_config(args.preset, variant, seed, extra, args.pada_option)
        return run_one(config, out, not args.no_rank, args.grad_batches)

    cells = [(variant, seed) for seed in args.seeds for variant in args.variants]
    rows = run_cells("pada", cells, args.out, run, args.summary_only)
    add_overhead(rows)
    table = markdown(rows, f"PA&DA vs uniform, preset {args.preset}, seeds {args.seeds}")
    write_results(args, rows, table)


if __name__ == "__main__":
    main()
