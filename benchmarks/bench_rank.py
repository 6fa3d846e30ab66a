"""Ranking throughput: every one of the 15,625 NB201 archs, BN recalibration, 2 CPU threads.

Ranks the whole space with a trained supernet (``--run DIR``, a ``nasengine train``
output; without it the preset's fresh weights: speed only, the tau is then
meaningless) and prints archs/s, the number of distinct evaluations, peak RSS and
the ranking metrics against NB201 beside the #params proxy. It also times the
straightforward path (every arch evaluated, NCHW tensors, no dedup) on a sample
and extrapolates it to the whole space, so what the optimisations buy is measured
in the same run.

With ``--set 'proxies.names=["ensemble"]'`` it also prints every proxy and the hybrid over
the same archs (their values come from the proxy cache: fill it with ``nasengine proxies
--archs all`` first, or they are computed).

Reproduce (the table in benchmarks/RESULTS.md):
    python benchmarks/bench_rank.py --run runs/pada/uniform/seed0 --threads 2 --workers 2 \
        --recal-batches 2 --eval-images 256
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import random
import resource
import time
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from nasengine import api
from nasengine.checkpoint import load_checkpoint
from nasengine.config import RunConfig, from_dict, load_config
from nasengine.report import scorer_columns
from nasengine.train import CHECKPOINT
from search_spaces.nb201.ops import BoxAverage


#: supernet-equivalence classes of NB201 (tests/search_spaces/test_nb201.py proves the count)
DISTINCT = 9445


def overrides(args: argparse.Namespace) -> list[str]:
    return ["evaluate.archs=all", "evaluate.bn=recalibrate",
            f"evaluate.recal_batches={args.recal_batches}",
            f"evaluate.recal_batch_size={args.recal_batch_size}",
            f"evaluate.eval_images={args.eval_images}",
            f"evaluate.batch_size={args.eval_images}", "evaluate.bootstrap=200",
            f"evaluate.workers={args.workers}",
            f"threads={args.threads}", *args.set]


def make_config(args: argparse.Namespace, extra: list[str] = ()) -> RunConfig:
    """The preset + evaluation overrides; with ``--run``, what that run's checkpoint was
    trained by (supernet, data, train, sampler, few-shot split, seed)."""
    config = load_config(args.preset, overrides(args) + list(extra))
    if args.run:
        trained = from_dict(json.loads((Path(args.run) / "config.json").read_text()))
        config.supernet, config.data, config.seed = trained.supernet, trained.data, trained.seed
        config.sampler, config.fewshot = trained.sampler, trained.fewshot
        config.train = dataclasses.replace(trained.train,
                                           channels_last=config.train.channels_last)
    return config


@contextlib.contextmanager
def plain_pooling() -> Iterator[None]:
    """Temporarily pool with ``avg_pool2d`` (the path before the box-sum optimisation)."""
    fast = BoxAverage.forward
    BoxAverage.forward = lambda self, x: F.avg_pool2d(x, self.kernel, self.stride, self.padding,
                                                     count_include_pad=False)
    try:
        yield
    finally:
        BoxAverage.forward = fast


def seconds_per_arch(args: argparse.Namespace, n: int, channels_last: bool,
                     workers: int = 1) -> float:
    """Per-arch time on ``n`` random archs (distinct classes), serial or in forked workers."""
    config = make_config(args, [f"train.channels_last={str(channels_last).lower()}"])
    pipe = api.build(config, progress=False)
    if args.run:
        pipe.supernet.load_state_dict(load_checkpoint(Path(args.run) / CHECKPOINT)["model"])
    if channels_last:
        pipe.supernet.to(memory_format=torch.channels_last)
    evaluator = pipe.evaluator()
    space, rng = pipe.space, random.Random(1)
    archs = list({tuple(pipe.supernet.canonical(a).items()): a
                  for a in rng.sample(list(space.enumerate()), n)}.values())
    evaluator.score(archs[0])  # warm-up
    start = time.perf_counter()
    evaluator.score_many(archs, progress=False, workers=workers)
    return (time.perf_counter() - start) / len(archs)


def optimisation_steps(args: argparse.Namespace, distinct: int) -> list[tuple[str, float]]:
    """Extrapolated full-space seconds as each optimisation is switched on, one at a time.

    All timed on the same arch sample in one run, so drift of the machine's speed over the
    long full-space run does not leak into what each step buys.
    """
    n, total = args.naive_sample, 15625
    with plain_pooling():
        plain = seconds_per_arch(args, n, channels_last=False)
        layout = seconds_per_arch(args, n, channels_last=True)
    pooled = seconds_per_arch(args, n, channels_last=True)
    forked = seconds_per_arch(args, n, channels_last=True, workers=args.workers)
    return [("straightforward (NCHW, avg_pool2d, every arch)", plain * total),
            ("+ channels_last", layout * total),
            ("+ box-sum pooling", pooled * total),
            (f"+ one evaluation per equivalence class ({distinct} of {total})", pooled * distinct),
            (f"+ {args.workers} forked 1-thread scoring processes", forked * distinct)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="trained supernet folder (checkpoint.pt)")
    parser.add_argument("--preset", default="cpu-proxy")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recal-batches", type=int, default=1)
    parser.add_argument("--recal-batch-size", type=int, default=128)
    parser.add_argument("--eval-images", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2,
                        help="forked 1-thread scoring processes for the full-space run")
    parser.add_argument("--naive-sample", type=int, default=100,
                        help="archs timed on the slower paths (0: skip that table)")
    parser.add_argument("--out", default="runs/bench_rank")
    parser.add_argument("--set", nargs="*", default=[], help="extra config overrides a.b=v")
    args = parser.parse_args()
    config = make_config(args)
    torch.set_num_threads(args.threads)
    steps = optimisation_steps(args, DISTINCT) if args.naive_sample else []
    pipe = api.build(config, progress=True)
    report = api.rank(config, args.run or _fresh(pipe, Path(args.out)), pipe=pipe,
                      report_dir=args.out, progress=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    proto, s, p = report["protocol"], report["supernet"], report["params_proxy"]
    print(f"\n# cmd: python benchmarks/bench_rank.py {'--run ' + args.run if args.run else ''} "
          f"--threads {args.threads} --workers {args.workers} --recal-batches {args.recal_batches} "
          f"--recal-batch-size {args.recal_batch_size} --eval-images {args.eval_images}")
    print("| archs | distinct evaluations | recal | eval images | seconds | archs/s | "
          "peak RSS MB | supernet tau | #params tau |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {proto['n_archs']} | {proto['distinct_evaluations']} | "
          f"{proto['recal_batches']}x{proto['recal_batch_size']} | {proto['eval_images']} | "
          f"{report['seconds']:.0f} | {report['archs_per_s']:.1f} | {rss:.0f} | "
          f"{s['kendall_tau']:+.3f} | {p['kendall_tau']:+.3f} |")
    print_rivals(report)
    if not steps:
        return
    print(f"\n| path (timed on the same {args.naive_sample} random archs, extrapolated to "
          "the whole space) | seconds |\n|---|---|")
    for name, seconds in steps:
        print(f"| {name} | {seconds:.0f} |")


def print_rivals(report: dict) -> None:
    """With ``--set proxies.names=[...]``: every scorer of the same archs, best first (the
    hybrid combines the supernet with ``proxies.hybrid``, read from the proxy cache)."""
    if not report.get("rivals"):
        return
    scorers = scorer_columns(report)
    print("\n| scorer | Kendall tau | Spearman rho | P@top-5% | top-1 pick: true acc % (rank) |")
    print("|---|---|---|---|---|")
    for name, m in sorted(scorers.items(), key=lambda kv: -kv[1]["kendall_tau"]):
        print(f"| {name} | {m['kendall_tau']:+.3f} | {m['spearman_rho']:+.3f} | "
              f"{m['precision_at_5']:.3f} | {m['top1_true_acc']:.2f} ({m['top1_true_rank']}) |")


def _fresh(pipe: api.Pipeline, out: Path) -> Path:
    """Save the untrained supernet so that ``api.rank`` can load it (speed runs only)."""
    from nasengine.checkpoint import save_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / CHECKPOINT, {"model": pipe.supernet.state_dict()},
                    pipe.config.fingerprint())
    return out


if __name__ == "__main__":
    main()
