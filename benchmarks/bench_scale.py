"""Scale-out: search throughput with 1, 2, 4 workers on SQLite and PostgreSQL, and the
PA&DA protocol's training time on 1, 8 and 64 GPUs on paper from measured per-step costs.

Search: N processes of ``python -m nasengine.search.truth_worker`` (random search over
the NB201 ground truth, equivalent archs deduplicated) on one fresh study each time.
Throughput = budget / (last trial's end - first trial's start), read from the study, so
process start-up (importing torch) is not counted. Two workloads: evaluation 0 s (what
the storage and the coordination cost) and ``--sleep`` s per evaluation standing in for
the supernet's (§7: 0.55 s per arch at 2 threads). PostgreSQL is a private server
(``nasengine.search.postgres``) with its default durable settings.

On paper: the per-image cost of a C16N5 single-path step is measured here on this CPU;
DDP keeps the protocol's global batch of 256, so each of k ranks computes 256/k images and
then all-reduces the supernet's gradients (ring: 2(k-1)/k x bytes / bandwidth). Every
other input is an assumption printed beside the result.

    python benchmarks/bench_scale.py                      # everything (~10 min here)
    python benchmarks/bench_scale.py --backends sqlite --workers 1 2 --skip-train

Training: images/s of single-path steps (random data and archs, batch 64) run whole, split
over 2 threads, over 2 gloo processes with nasengine's all-reduce, and over 2 gloo
processes with torch's DistributedDataParallel (find_unused_parameters=True).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch  # before optuna: benchmarks/_queue.py shadows the stdlib's _queue otherwise
import optuna
from optuna.trial import TrialState

from nasengine.search.postgres import LocalPostgres
from nasengine.search.storage import open_storage

#: the PA&DA NB201 protocol (docs/algorithms.md §3.3)
EPOCHS, IMAGES, BATCH = 250, 50_000, 256
#: published GPU cost: NB201 RSPS, 250 epochs x 25k images ~ 8k GPU-s (algorithms.md §10)
GPU_S_PER_IMAGE = 8_000 / (250 * 25_000)
#: assumed links: NVLink within a node of 8, 100 Gb/s InfiniBand across nodes
LINKS = {1: (float("inf"), 0.0), 8: (100e9, 5e-6), 64: (12.5e9, 10e-6)}
#: assumed lower bound of a GPU step (kernel launches of a 5-cell net, fwd + bwd + SGD)
STEP_FLOOR_S = 0.010


def search_throughput(storage: str, workers: int, budget: int, sleep: float) -> float:
    """Trials per second of ``workers`` processes finishing ``budget`` trials together."""
    study = f"bench-{workers}w-{sleep}s-{time.time_ns()}"
    command = [sys.executable, "-m", "nasengine.search.truth_worker", storage, study,
               "--optimizer", "random", "--budget", str(budget), "--sleep", str(sleep),
               "--heartbeat", "10"]
    procs = [subprocess.Popen(command + ["--seed", "0"]) for _ in range(workers)]
    if any(p.wait() for p in procs):
        raise SystemExit(f"a worker failed: {' '.join(command)}")
    done = optuna.load_study(study_name=study, storage=open_storage(storage)).get_trials(
        states=(TrialState.COMPLETE,))
    assert len(done) == budget, (len(done), budget)
    span = max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
    return budget / span.total_seconds()


def throughput_table(args: argparse.Namespace) -> None:
    print("| storage | evaluation | " + " | ".join(f"{w} worker{'s' * (w > 1)}"
                                                    for w in args.workers) + " |")
    print("|---|---|" + "---|" * len(args.workers))
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as tmp, _server(backend) as url:
            storage = url or str(Path(tmp) / "bench.db")
            for sleep, budget in ((0.0, args.budget), (args.sleep, args.slow_budget)):
                rates = [search_throughput(storage, w, budget, sleep) for w in args.workers]
                print(f"| {backend} | {sleep:g} s | "
                      + " | ".join(f"{r:.2f} trials/s" for r in rates) + " |", flush=True)


class _server:
    """A private PostgreSQL server for ``postgresql``; nothing for ``sqlite``."""

    def __init__(self, backend: str) -> None:
        self.server = LocalPostgres() if backend == "postgresql" else None

    def __enter__(self) -> str | None:
        return self.server.__enter__() if self.server else None

    def __exit__(self, *exc: object) -> None:
        if self.server:
            self.server.__exit__(*exc)


def cpu_step_cost(steps: int, batch: int) -> tuple[float, int]:
    """(seconds per image of a C16N5 single-path train step on this CPU, gradient bytes)."""
    from nasengine.families import get_family

    family = get_family("nb201")
    space, net = family.space(), family.build_supernet("weight_sharing", channels=16, cells=5)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    gen = torch.Generator().manual_seed(0)
    times = []
    for step in range(steps + 1):
        arch = space.decode(int(torch.randint(len(space), (1,), generator=gen)))
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x, arch), y).backward()
        opt.step()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
    grad_bytes = sum(p.numel() * p.element_size() for p in net.parameters())
    return sorted(times)[len(times) // 2] / batch, grad_bytes


STEP_MODES = {"whole": "1 process, whole batch, 1 thread",
              "threads": "1 process, train.data_parallel=2 (2 threads)",
              "ranks": "2 gloo processes, nasengine's all-reduce of used gradients",
              "ddp": "2 gloo processes, DistributedDataParallel(find_unused_parameters=True)"}


def train_steps(mode: str, channels: int, cells: int, steps: int, batch: int) -> None:
    """Time ``steps`` single-path training steps of one ``mode``; rank 0 prints images/s."""
    import torch.distributed as dist

    from nasengine.distributed import RankSplit, init
    from nasengine.parallel import ThreadSplit, WholeBatch
    from nasengine.families import get_family

    family = get_family("nb201")
    space = family.space()
    torch.manual_seed(0)
    net = family.build_supernet("weight_sharing", channels=channels, cells=cells)
    params = list(net.parameters())
    runners = {"whole": WholeBatch, "threads": lambda: ThreadSplit(2),
               "ranks": lambda: RankSplit(2, torch.device("cpu")), "ddp": WholeBatch}
    runner = runners[mode]()
    model = net
    if mode == "ddp":
        init(torch.device("cpu"))
        model = torch.nn.parallel.DistributedDataParallel(net, find_unused_parameters=True)
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    if mode == "ddp":  # each process its half, as the split modes do
        x, y = x.tensor_split(2)[dist.get_rank()], y.tensor_split(2)[dist.get_rank()]
    with runner.session():
        for step in range(steps + 2):
            if step == 2:  # two warm-up steps
                start = time.perf_counter()
            arch = space.decode(int(torch.randint(len(space), (1,), generator=gen)))
            opt.zero_grad(set_to_none=True)
            if mode == "ddp":
                torch.nn.functional.cross_entropy(model(x, arch), y).backward()
            else:
                runner.run(model, params, arch, x, y, None)
            opt.step()
    elapsed = time.perf_counter() - start
    if not dist.is_initialized() or dist.get_rank() == 0:
        print(f"| C{channels}N{cells} | {STEP_MODES[mode]} | {steps * batch / elapsed:.0f} |",
              flush=True)


def train_table(args: argparse.Namespace) -> None:
    print(f"\n| supernet | how the batch of {args.batch} is run | images/s |\n|---|---|---|",
          flush=True)
    for channels, cells in ((8, 1), (16, 5)):
        steps = args.steps * (8 if cells == 1 else 1)
        for mode in STEP_MODES:
            command = [__file__, "--train-mode", mode, "--channels", str(channels),
                       "--cells", str(cells), "--steps", str(steps), "--batch", str(args.batch)]
            if mode in ("ranks", "ddp"):
                command = ["-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_port=29533", *command]
            subprocess.run([sys.executable, *command], check=True)


def paper_table(args: argparse.Namespace) -> None:
    cpu_per_image, grad_bytes = cpu_step_cost(args.steps, 64)
    steps = EPOCHS * -(-IMAGES // BATCH)
    print(f"\nmeasured: {cpu_per_image * 1e3:.2f} ms per image per C16N5 step on this CPU "
          f"(median of {args.steps}, batch 64, 1 thread); gradients {grad_bytes / 1e6:.2f} MB")
    links = "; ".join(f"{k} ranks {bw / 1e9:g} GB/s, {lat * 1e6:g} us per hop"
                      for k, (bw, lat) in LINKS.items() if k > 1)
    print(f"assumed: GPU {GPU_S_PER_IMAGE * 1e3:.2f} ms per image (published NB201 RSPS cost), "
          f"GPU step >= {STEP_FLOOR_S * 1e3:.0f} ms; ring all-reduce over {links}")
    print(f"protocol: {EPOCHS} epochs x {IMAGES} images, global batch {BATCH} = {steps} steps\n")
    print("| ranks | images per rank per step | compute per step | all-reduce per step | "
          "GPU wall time | same on CPUs like this one |")
    print("|---|---|---|---|---|---|")
    for ranks, (bandwidth, latency) in LINKS.items():
        per_rank = BATCH / ranks
        reduce = 0.0 if ranks == 1 else (2 * (ranks - 1) / ranks * grad_bytes / bandwidth
                                         + 2 * (ranks - 1) * latency)
        gpu = max(per_rank * GPU_S_PER_IMAGE, STEP_FLOOR_S) + reduce
        cpu = per_rank * cpu_per_image + reduce
        print(f"| {ranks} | {per_rank:g} | {per_rank * GPU_S_PER_IMAGE * 1e3:.1f} ms (GPU) | "
              f"{reduce * 1e3:.2f} ms | {steps * gpu / 3600:.2f} h | "
              f"{steps * cpu / 3600:.1f} h |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--budget", type=int, default=200, help="trials at 0 s evaluation")
    parser.add_argument("--slow-budget", type=int, default=40, help="trials at --sleep s")
    parser.add_argument("--sleep", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=5, help="timed CPU training steps")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--batch", type=int, default=64, help="training batch (timed steps)")
    parser.add_argument("--train-mode", choices=STEP_MODES, help=argparse.SUPPRESS)
    parser.add_argument("--channels", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--cells", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    if args.train_mode:  # one timed configuration, in its own process(es)
        train_steps(args.train_mode, args.channels, args.cells, args.steps, args.batch)
        return
    if not args.skip_search:
        throughput_table(args)
    if not args.skip_train:
        train_table(args)
    paper_table(args)


if __name__ == "__main__":
    main()
