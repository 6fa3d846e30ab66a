"""Fault injection: kill a ``nasengine train`` process at chosen points, then resume it.

What the reliability tests and ``benchmarks/bench_reliability.py`` use to show that a
run killed anywhere, also inside a checkpoint write, resumes to the bit-exact state of
a run never interrupted. Kills are real ``SIGKILL``s of a separate process; a kill
"inside a write" is sent the moment an atomic write's temporary file appears.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .checkpoint import load_checkpoint

TIMING_KEYS = ("seconds", "images_per_s")  # fields that measure time, not computation


@dataclass
class KillLog:
    """What one kill-and-resume sequence went through."""

    kills: list[str] = field(default_factory=list)  # "write" or "random" per kill sent
    finished_early: int = 0  # runs that ended before their kill came

    @property
    def inside_writes(self) -> int:
        return self.kills.count("write")


def train_command(out: Path, config: str, overrides: list[str], resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "nasengine", "train", "--config", config, "--out", str(out),
           "--no-progress", "--threads", "1", *[f"--set={o}" for o in overrides]]
    return cmd + (["--resume"] if resume else [])


def run_to_end(cmd: list[str], timeout: float = 300) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def kill_and_resume(out: Path, config: str, overrides: list[str], kills: int,
                    rng: random.Random, max_delay: float = 6.0) -> KillLog:
    """Start, kill ``kills`` times (alternately inside a write and at a random time), finish."""
    log = KillLog()
    for i in range(kills):
        mode = "write" if i % 2 == 0 else "random"
        before = _temps(out)  # leftovers of the last kill: the new process removes them
        proc = subprocess.Popen(train_command(out, config, overrides, resume=True),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        killed = (_kill_inside_write(proc, out, before) if mode == "write"
                  else _kill_after(proc, rng.uniform(0.0, max_delay)))
        stderr = proc.communicate()[1].decode()  # reads, waits and closes the pipe
        if killed:
            log.kills.append(mode)
        elif proc.returncode == 0:
            log.finished_early += 1
        else:
            raise RuntimeError(f"train failed on its own ({proc.returncode}): {stderr[-2000:]}")
    run_to_end(train_command(out, config, overrides, resume=True))
    return log


def _kill_after(proc: subprocess.Popen, delay: float) -> bool:
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        return True


def _kill_inside_write(proc: subprocess.Popen, out: Path, before: set[str],
                       prefix: str = ".checkpoint.pt.") -> bool:
    """SIGKILL as soon as a new temporary file of a checkpoint write exists in ``out``."""
    while proc.poll() is None:
        if _temps(out, prefix) - before:
            proc.kill()
            return True
        time.sleep(0.0005)
    return False


def _temps(out: Path, prefix: str = ".checkpoint.pt.") -> set[str]:
    try:
        return {n for n in os.listdir(out) if n.startswith(prefix) and n.endswith(".tmp")}
    except FileNotFoundError:
        return set()


def differences(a: Path, b: Path) -> list[str]:
    """Where two finished runs' checkpoints differ (weights, optimizer, sampler, RNG, history)."""
    return _diff(load_checkpoint(a / "checkpoint.pt"), load_checkpoint(b / "checkpoint.pt"), "")


def _diff(x: Any, y: Any, where: str) -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        if set(x) != set(y):
            return [f"{where}: keys {sorted(set(x) ^ set(y), key=str)}"]
        return [d for k in x if k not in TIMING_KEYS for d in _diff(x[k], y[k], f"{where}.{k}")]
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        if len(x) != len(y):
            return [f"{where}: length {len(x)} != {len(y)}"]
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in _diff(u, v, f"{where}[{i}]")]
    if torch.is_tensor(x) and torch.is_tensor(y):
        same = x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)
        return [] if same else [where]
    return [] if x == y else [f"{where}: {x!r} != {y!r}"]


def count_tensors(path: Path) -> int:
    """Tensors in a checkpoint (what "bit-exact" covered)."""
    def walk(obj: Any) -> int:
        if torch.is_tensor(obj):
            return 1
        if isinstance(obj, dict):
            return sum(walk(v) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return sum(walk(v) for v in obj)
        return 0

    return walk(load_checkpoint(path / "checkpoint.pt"))
