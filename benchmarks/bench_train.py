"""Supernet training throughput: nasengine vs NNI 3.0 RandomOneShot, and data-pipeline overhead.

Each figure is one fresh subprocess (so peak RSS is that run's own), all in one
invocation, same machine, same thread count, same input tensors and the same
seeded sequence of random NB201 archs for every engine. Two NNI figures:

* ``nni``: NNI as its users run it - ``RandomOneShot`` mutating NNI's ``NasBench201``
  space and training it through NNI's ``Classification`` evaluator (Lightning), with the
  strategy's per-step ``resample`` made to pick our arch sequence. This is the baseline
  of the 2.5x target. Its optimiser is plain SGD with weight decay (no momentum), which
  only favours NNI.
* ``nni-bare``: the same mutated supernet driven by our plain PyTorch loop (resample +
  forward + backward + clip + SGD step), i.e. NNI's modules without Lightning - a
  stricter comparison of the supernet code alone.

Our engines: ``nasengine`` is the trainer's default step (whole batch on all threads, the
allocator tuned); ``nasengine-split`` is ``train.data_parallel=<threads>``; the ablations
``nasengine-glibc`` (default allocator) and ``nasengine-nchw`` (no channels_last), and
``nni-alloc`` (NNI with our allocator tuning) say what each measure buys.

Reproduce (the table in benchmarks/RESULTS.md; needs the ``bench`` extra):
    pip install -e ".[bench]"
    python benchmarks/bench_train.py --threads 2
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

NNI_OPS = {"none": "none", "skip_connect": "skip_connect", "nor_conv_1x1": "conv_1x1",
           "nor_conv_3x3": "conv_3x3", "avg_pool_3x3": "avg_pool_3x3"}
CONFIGS = [(8, 1, 64), (8, 1, 256), (16, 5, 64), (16, 5, 256)]
ENGINES = ["nasengine", "nasengine-split", "nasengine-glibc", "nni", "nni-bare"]
NASENGINE = {  # engine -> (split batch over the threads, tune the allocator, channels_last)
    "nasengine": (False, True, True),  # the Trainer's default on CPU: one pass, all threads
    "nasengine-split": (True, True, True),  # train.data_parallel = threads
    "nasengine-glibc": (False, False, True),  # glibc's default allocator
    "nasengine-nchw": (False, True, False),
}
EXTRA_ENGINES = ["nasengine-nchw", "nni-alloc"]  # ablations, only when asked for


def random_archs(n: int, seed: int = 0) -> list[dict[str, str]]:
    from nasengine.families import get_family

    space = get_family("nb201").space()
    rng = random.Random(seed)
    return [space.sample(rng) for _ in range(n)]


def nasengine_step_fn(channels: int, cells: int, channels_last: bool):
    from nasengine.families import get_family

    net = get_family("nb201").build_supernet("weight_sharing", channels=channels, cells=cells,
                                             num_classes=10)
    if channels_last:
        net = net.to(memory_format=__import__("torch").channels_last)
    return net, lambda x, arch: net(x, arch)


def nni_memo(arch: dict[str, str]) -> dict[str, str]:
    """Our NB201 arch as NNI's sample: label ``cell/<to>_<from>`` -> NNI op name."""
    return {f"cell/{e.split('<-')[1]}_{e.split('<-')[0]}": NNI_OPS[op] for e, op in arch.items()}


def nni_space(channels: int, cells: int):
    from nni.nas.hub.pytorch import NasBench201

    return NasBench201(stem_out_channels=channels, num_modules_per_stack=cells, num_labels=10)


def nni_step_fn(channels: int, cells: int):
    from nni.nas.oneshot.pytorch.supermodule.base import BaseSuperNetModule
    from nni.nas.strategy import RandomOneShot

    net = RandomOneShot().mutate_model(nni_space(channels, cells))
    modules = [m for m in net.modules() if isinstance(m, BaseSuperNetModule)]

    def forward(x, arch):
        memo = nni_memo(arch)
        for m in modules:  # what RandomSamplingLightningModule.resample does, with our arch
            m.resample(memo=memo)
        return net(x)

    return net, forward


def measure_nni_strategy(channels: int, cells: int, batch: int, threads: int,
                         min_seconds: float) -> dict:
    """Images/s of NNI's RandomOneShot trained through its Lightning evaluator."""
    import torch
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.strategy import RandomOneShot

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    timer = step_timer(min_seconds)
    evaluator = Classification(
        learning_rate=0.05, weight_decay=5e-4, optimizer=torch.optim.SGD, num_classes=10,
        train_dataloaders=DataLoader([(x, y)] * 100_000, batch_size=None),
        val_dataloaders=DataLoader([(x, y)], batch_size=None), max_epochs=1,
        gradient_clip_val=5.0, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        accelerator="cpu", callbacks=[timer])
    strategy = RandomOneShot()
    model = strategy.mutate_model(nni_space(channels, cells))
    lightning = strategy.mutate_evaluator(evaluator)
    oneshot, archs = lightning.module, iter(random_archs(100_000))

    def resample() -> dict:  # the strategy's own traversal, fed our arch sequence
        memo = nni_memo(next(archs))
        for module in oneshot.supernet_modules():
            memo.update(module.resample(memo=memo))
        return memo

    oneshot.resample = resample
    lightning.evaluate(model)
    return {"images_per_s": timer.steps * batch / timer.seconds, "steps": timer.steps,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def step_timer(min_seconds: float):
    """A Lightning callback (built here: lightning is only in the ``bench`` extra)."""
    import pytorch_lightning as pl

    class StepTimer(pl.Callback):
        """Times Lightning's training steps after 3 warm-up steps; stops after ``min_seconds``."""

        def __init__(self, min_seconds: float) -> None:
            self.min_seconds, self.steps, self.start, self.seconds = min_seconds, 0, 0.0, 0.0

        def on_train_batch_end(self, trainer, *args, **kwargs) -> None:
            if trainer.global_step == 3:
                self.start = time.perf_counter()
            elif trainer.global_step > 3:
                self.steps += 1
                self.seconds = time.perf_counter() - self.start
                if self.seconds >= self.min_seconds and self.steps >= 5:
                    trainer.should_stop = True

    return StepTimer(min_seconds)


def measure(engine: str, channels: int, cells: int, batch: int, threads: int,
            min_seconds: float) -> dict:
    """Images/s of forward + backward + SGD step on single-path random archs."""
    import torch

    from nasengine.device import tune_cpu_allocator
    from nasengine.parallel import ThreadSplit, WholeBatch

    if engine in ("nni", "nni-alloc"):
        if engine == "nni-alloc":
            tune_cpu_allocator()
        return measure_nni_strategy(channels, cells, batch, threads, min_seconds)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    split, tune, channels_last = NASENGINE.get(engine, (False, False, False))
    if tune:
        tune_cpu_allocator()
    if engine == "nni-bare":
        net, forward = nni_step_fn(channels, cells)
    else:
        net, forward = nasengine_step_fn(channels, cells, channels_last)
    runner = ThreadSplit(threads) if split and threads > 1 else WholeBatch()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    archs = random_archs(1000)
    model = forward if engine == "nni-bare" else net  # NNI's net resamples, then runs
    params = list(net.parameters())  # as the Trainer keeps them

    def step(i: int) -> None:
        opt.zero_grad(set_to_none=True)
        runner.run(model, params, archs[i % len(archs)], x, y, None)
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()

    with runner.session():
        for i in range(3):  # warm-up
            step(i)
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < min_seconds or steps < 5:
            step(3 + steps)
            steps += 1
        seconds = time.perf_counter() - start
    return {"images_per_s": steps * batch / seconds, "steps": steps,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_data(channels: int, batch: int, threads: int, min_seconds: float) -> dict:
    """Training step time with pre-made tensors vs with the real loader + augmentation."""
    import torch

    from nasengine.data import BatchAugment, TensorLoader, load_cifar
    from nasengine.device import tune_cpu_allocator
    from nasengine.parallel import step_runner

    torch.set_num_threads(threads)
    tune_cpu_allocator()
    runner = step_runner(1, torch.device("cpu"), contextlib.nullcontext)  # the default
    net, _ = nasengine_step_fn(channels, 1, True)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    data = load_cifar(None, split="train")
    loader = TensorLoader(data, batch, shuffle=True, augment=BatchAugment(*data.mean_std()),
                          seed=0, channels_last=True)
    archs, params = random_archs(1000), list(net.parameters())
    fixed = next(iter(loader))

    def run(batches) -> float:
        start, steps = time.perf_counter(), 0
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            runner.run(net, params, archs[steps % 1000], x, y, None)
            opt.step()
            steps += 1
            if time.perf_counter() - start >= min_seconds:
                break
        return (time.perf_counter() - start) / steps

    def endless_fixed():
        while True:
            yield fixed

    with runner.session():
        run(iter([fixed] * 3))
        step_fixed = run(endless_fixed())
        step_real = run(iter(loader))
        step_fixed2 = run(endless_fixed())  # bracket the real-data run against drift
    fixed_ms = 1000 * (step_fixed + step_fixed2) / 2
    return {"fixed_ms": fixed_ms, "real_ms": 1000 * step_real,
            "overhead_pct": 100 * (1000 * step_real / fixed_ms - 1)}


def in_subprocess(kind: str, args: dict) -> dict:
    env = {**os.environ, "HOME": os.environ.get("BENCH_HOME", tempfile.gettempdir())}
    code = (f"import json,sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            f"import bench_train as b; print(json.dumps(b.{kind}(**{args!r})))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(args: argparse.Namespace, cell: dict) -> dict[str, dict]:
    """Per engine, the median images/s over ``args.repeats`` rounds in rotated order.

    The machine's speed drifts by tens of percent over minutes; rotating the engines
    and taking medians keeps the drift out of the ratios. Each engine's per-round
    figures are kept (``rounds``, None for a failed run) for the paired ratios.
    """
    runs: dict[str, list[dict]] = {e: [] for e in args.engines}
    for r in range(args.repeats):
        for engine in args.engines[r % len(args.engines):] + args.engines[:r % len(args.engines)]:
            runs[engine].append(in_subprocess("measure", {"engine": engine, **cell}))
    res = {}
    for engine, results in runs.items():
        ok = [x for x in results if "error" not in x]
        res[engine] = results[0] if not ok else {
            "images_per_s": statistics.median(x["images_per_s"] for x in ok),
            "peak_rss_mb": max(x["peak_rss_mb"] for x in ok),
            "rounds": [x.get("images_per_s") for x in results]}
    return res


def ratio(ours: dict, theirs: dict) -> str:
    """Median over rounds of the ratio within a round, with its range in brackets.

    Engines of one round run minutes apart at most, so a paired ratio carries less of
    the machine's drift than the ratio of two medians.
    """
    if "error" in ours or "error" in theirs:
        return "n/a"
    paired = [a / b for a, b in zip(ours["rounds"], theirs["rounds"]) if a and b]
    if len(paired) < 2:
        return f"{ours['images_per_s'] / theirs['images_per_s']:.2f}x"
    return f"{statistics.median(paired):.2f}x ({min(paired):.2f}-{max(paired):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0, help="minimum timed seconds per cell")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds per config, engines in rotated order; medians reported")
    parser.add_argument("--engines", nargs="+", default=ENGINES, choices=ENGINES + EXTRA_ENGINES)
    parser.add_argument("--configs", nargs="+", default=[f"C{c}N{n}-bs{b}" for c, n, b in CONFIGS])
    args = parser.parse_args()
    print(f"# torch threads {args.threads}; median of {args.repeats} rotated rounds (ratios: median "
          f"of the per-round ratios, range in brackets); cmd: python "
          f"benchmarks/bench_train.py {' '.join(sys.argv[1:])}")
    pairs = [(ours, base) for ours in ("nasengine", "nasengine-split") for base in ("nni", "nni-bare")
             if ours in args.engines and base in args.engines]
    print("| config | " + " | ".join(f"{e} img/s (RSS MB)" for e in args.engines)
          + "".join(f" | {ours} / {base}" for ours, base in pairs) + " |")
    print("|---|" + "---|" * (len(args.engines) + len(pairs)))
    for c, n, b in CONFIGS:
        name = f"C{c}N{n}-bs{b}"
        if name not in args.configs:
            continue
        res = interleaved(args, {"channels": c, "cells": n, "batch": b,
                                 "threads": args.threads, "min_seconds": args.seconds})
        cells = [f"{r['images_per_s']:.0f} ({r['peak_rss_mb']:.0f})" if "error" not in r
                 else f"error: {r['error']}" for r in res.values()]
        cells += [ratio(res[ours], res[base]) for ours, base in pairs]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    d = in_subprocess("measure_data", {"channels": 8, "batch": 128, "threads": args.threads,
                                       "min_seconds": args.seconds})
    print("\n| data pipeline (C8N1, bs128) | step, fixed tensors | step, real loader + "
          "augmentation | overhead |\n|---|---|---|---|")
    if "error" in d:
        print(f"| error | {d['error']} | | |")
    else:
        print(f"| CIFAR-10 train | {d['fixed_ms']:.1f} ms | {d['real_ms']:.1f} ms | "
              f"{d['overhead_pct']:+.1f}% |")


if __name__ == "__main__":
    main()
