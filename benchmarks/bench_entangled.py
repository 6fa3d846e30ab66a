"""Weight entanglement: parameter memory, and peak memory / step time of mixture forwards.

(a) Parameters of the entangled vs weight-sharing supernet (macro space and NB201), with
    the limit sum-of-choices / largest-choice over the searchable layers.
(b) One training step (forward + backward, no optimiser step), same batch and weights:
    single path (largest and a random subnet), the one-pass mixture (entangled: one
    conv per layer on the mixed weight) and the K-forward mixture (DARTS-style: each
    choice run separately on its slice, outputs summed). Each cell runs in a fresh
    subprocess; its peak memory is the process's peak RSS during the first step minus
    its RSS just before it (PyTorch has no CPU allocator statistics; glibc's mmap
    threshold is pinned so large tensors are returned to the OS when freed). Time is the
    median of the following steps.

Reproduce (about 1-2 CPU-minutes at the defaults):
    python benchmarks/bench_entangled.py --threads 1
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELLS = ("single-path largest", "single-path random", "mixture one-pass", "mixture K-forward")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--channels", type=int, default=8, help="macro base width for (b)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3, help="steps per cell (first is not timed)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--space", choices=("macro", "nb201"), default="macro")
    p.add_argument("--cell", choices=CELLS, help=argparse.SUPPRESS)  # internal: run one cell
    return p.parse_args(argv)


# -- (a) parameter memory --------------------------------------------------------------
def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def macro_params(channels: int) -> dict[str, float]:
    from nasengine.families import get_family
    from search_spaces.macro import MBConv

    family = get_family("macro")
    ws, ent = (count(family.build_supernet(s, channels=channels))
               for s in ("weight_sharing", "entangled"))
    blocks = [block for stage in ent_blocks(family, channels) for block in stage]
    space = family.space()
    total = sum(count(MBConv(b.c_in, b.c_out, k, e, b.stride))
                for b in blocks for k in space.kernels for e in space.expands)
    largest = sum(count(MBConv(b.c_in, b.c_out, max(space.kernels), max(space.expands), b.stride))
                  for b in blocks)
    return {"weight_sharing": ws, "entangled": ent, "limit": total / largest}


def ent_blocks(family, channels: int):
    net = family.build_supernet("entangled", channels=channels)
    return [[edge.shared["mbconv"] for edge in stage] for stage in net.network.stages]


def nb201_params(channels: int, cells: int) -> dict[str, float]:
    from nasengine.families import get_family

    family = get_family("nb201")
    ws, ent = (count(family.build_supernet(s, channels=channels, cells=cells))
               for s in ("weight_sharing", "entangled"))
    return {"weight_sharing": ws, "entangled": ent, "limit": (1 + 9) / 9}  # 1x1 + 3x3 vs 3x3


# -- (b) one cell, in a fresh process ----------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build_step(args: argparse.Namespace):
    import torch

    from nasengine.families import get_family

    family = get_family(args.space)
    config = {"channels": args.channels} if args.space == "macro" else \
        {"channels": args.channels, "cells": 1}
    net = family.build_supernet("entangled", **config).train()
    space = family.space()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    if args.cell.startswith("single-path"):
        arch = _largest(space) if args.cell.endswith("largest") else space.sample(random.Random(0))
        forward = lambda: net(x, arch)  # noqa: E731
    else:
        alphas = {label: torch.zeros(len(d.values), requires_grad=True)
                  for label, d in space.decisions.items()}
        one_pass = args.cell.endswith("one-pass")
        forward = lambda: net.forward_mixture(  # noqa: E731
            x, {k: torch.softmax(v, 0) for k, v in alphas.items()}, one_pass=one_pass)

    def step() -> None:
        net.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(forward(), y).backward()

    return step


def _largest(space):
    largest = getattr(space, "largest", None)
    if largest is not None:
        return largest()
    return {label: "nor_conv_3x3" for label in space.labels}  # NB201: the heaviest op


def run_cell(args: argparse.Namespace) -> dict[str, float]:
    import torch

    torch.set_num_threads(args.threads)
    step = build_step(args)
    gc.collect()
    before = rss_bytes()
    step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    times = []
    for _ in range(max(1, args.steps - 1)):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"peak_mib": (peak - before) / 2 ** 20, "step_s": statistics.median(times)}


def spawn(args: argparse.Namespace, cell: str) -> dict[str, float]:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "OMP_WAIT_POLICY": "PASSIVE",
           "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--cell", cell, "--channels", str(args.channels),
           "--batch", str(args.batch), "--steps", str(args.steps), "--threads", str(args.threads),
           "--space", args.space]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.cell:
        print(json.dumps(run_cell(args)))
        return
    sys.path.insert(0, str(ROOT))
    print("## (a) parameter memory: entangled vs weight-sharing supernet\n")
    print("| supernet | weight sharing | entangled | ratio | limit (sum/largest) |")
    print("|---|---:|---:|---:|---:|")
    rows = [(f"macro C={c}", macro_params(c)) for c in (8, 16)]
    rows.append(("nb201 C=16 N=5", nb201_params(16, 5)))
    for name, r in rows:
        print(f"| {name} | {r['weight_sharing']:,} | {r['entangled']:,} | "
              f"{r['weight_sharing'] / r['entangled']:.2f}x | {r['limit']:.2f}x |")
    print(f"\n## (b) one step (fwd+bwd), {args.space} C={args.channels}, batch {args.batch}, "
          f"{args.threads} thread(s), entangled weights\n")
    print("| step | peak memory (MiB) | vs single-path largest | step time (s) |")
    print("|---|---:|---:|---:|")
    results = {cell: spawn(args, cell) for cell in CELLS}
    base = results["single-path largest"]["peak_mib"]
    for cell, r in results.items():
        print(f"| {cell} | {r['peak_mib']:.1f} | {r['peak_mib'] / base:.2f}x | {r['step_s']:.3f} |")
    cmd = " ".join(["python benchmarks/bench_entangled.py"] + (argv if argv is not None
                                                               else sys.argv[1:]))
    print(f"\nreproduce: {cmd}")


if __name__ == "__main__":
    main()
