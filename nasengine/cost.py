"""What a run will cost, measured before it starts (``estimate_cost = true`` in a config).

A long protocol (``nb201-paper``: 250 epochs, 15,625 archs on 10k images) should say what
it costs on the machine at hand before it takes that machine for hours. The estimate times
a few training steps and evaluation forwards of the run's own supernet at its own batch
sizes, on random images, on a copy, with every random stream restored: the run that follows
is unchanged.
"""
from __future__ import annotations

import copy
import math
import random
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .config import RunConfig
from .device import autocast


def estimate_cost(config: RunConfig, steps: int = 2) -> dict[str, Any]:
    """Seconds of training and ranking for ``config``, from ``steps`` timed steps (+1 warm-up)."""
    from .api import build
    from .device import resolve_device

    device = resolve_device(config.device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        state = random.getstate()
        try:
            return _measure(build(copy.deepcopy(config), progress=False), steps)
        finally:
            random.setstate(state)


def _measure(pipe: Any, steps: int) -> dict[str, Any]:
    config, device = pipe.config, pipe.device
    net = copy.deepcopy(pipe.supernet).to(device)
    archs = [pipe.space.decode(i % len(pipe.space)) for i in range(0, 7919 * (steps + 1), 7919)]
    tc, ec = config.train, config.evaluate

    def batch(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.randn(n, 3, 32, 32, device=device),
                torch.randint(0, config.supernet.num_classes, (n,), device=device))

    def train_step(i: int) -> None:
        x, y = batch(tc.batch_size)
        with autocast(device, tc.amp):
            loss = F.cross_entropy(net(x, archs[i]).float(), y)
        loss.backward()

    def eval_forward(i: int) -> None:
        with torch.inference_mode():
            net(batch(min(ec.batch_size, ec.eval_images or ec.batch_size))[0], archs[i])

    net.train()
    step_s = _timed(train_step, steps, device)
    net.eval()
    forward_s = _timed(eval_forward, steps, device)
    train_steps = tc.epochs * len(pipe.train_loader())
    n_archs = len({tuple(pipe.supernet.canonical(a).items()) for a in pipe.arch_sample()})
    eval_images = ec.eval_images or 10_000
    per_arch = math.ceil(eval_images / ec.batch_size) + (
        ec.recal_batches if ec.bn == "recalibrate" else 0)
    return {"device": str(device), "timed_steps": steps, "step_seconds": step_s,
            "train_steps": train_steps, "train_seconds": train_steps * step_s,
            "eval_forward_seconds": forward_s, "archs": n_archs,
            "rank_seconds": n_archs * per_arch * forward_s,
            "total_seconds": train_steps * step_s + n_archs * per_arch * forward_s}


def _timed(fn: Callable[[int], None], steps: int, device: torch.device) -> float:
    """Median seconds of ``fn`` over ``steps`` calls after one untimed warm-up call."""
    fn(0)
    times = []
    for i in range(1, steps + 1):
        _sync(device)
        start = time.perf_counter()
        fn(i)
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def format_estimate(est: dict[str, Any], cells: int = 1, workers: int = 1) -> str:
    """One line a user can decide on: hours of training and ranking, and what it rests on."""
    total = est["total_seconds"] * cells / max(1, min(workers, cells))
    what = f"{cells} cells on {workers} workers: " if cells > 1 else ""
    return (f"estimated cost on {est['device']}: {what}{_hours(total)} "
            f"(per run: training {_hours(est['train_seconds'])} = {est['train_steps']:,} steps "
            f"x {est['step_seconds']:.3g} s, ranking {_hours(est['rank_seconds'])} for "
            f"{est['archs']:,} distinct archs; from {est['timed_steps']} timed steps, without the "
            "optimizer update and data loading)")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
