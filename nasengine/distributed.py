"""torchrun / DDP training: the parts of each batch run on processes instead of threads.

``train.data_parallel = K`` defines the step's maths: each batch is split into K parts,
each part's BN uses its own batch statistics, the gradients are summed and the float
buffers (BN running statistics) averaged. :class:`~nasengine.parallel.ThreadSplit` runs
the parts on K threads of one process; under ``torchrun --nproc_per_node=K`` (world size
K, gloo on CPU, NCCL on CUDA) :class:`RankSplit` runs part r on rank r. The result is the
same run, so a checkpoint resumes under either.

Why not ``DistributedDataParallel``: a single-path step uses a different subset of the
supernet's parameters every step. DDP needs ``find_unused_parameters=True`` for that (an
extra graph traversal each step), and it would give unused parameters zero gradients,
which SGD then decays and moves with momentum, unlike a one-process run where they have
no gradient. Every rank trains the same arch (the sampler is seeded identically and
sees the same gathered feedback), so the set of used parameters is the same on every
rank and one all-reduce over exactly those gradients is both correct and cheaper.

Data: every rank reads the same seeded global batch (order and augmentation are a pure
function of (seed, epoch)) and keeps its part. Only rank 0 writes files. Ranking shards
the archs over the ranks (:func:`sharded`).
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, ContextManager, Hashable, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from .errors import ConfigError
from .parallel import Precision, StepOutput, WholeBatch, _forward_loss
from .space import Sample

T = TypeVar("T")
R = TypeVar("R")


def world_size() -> int:
    """Processes in this run (torchrun's WORLD_SIZE; 1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_writer() -> bool:
    """Whether this process writes checkpoints, metrics and reports (rank 0 only)."""
    return rank() == 0


def place(device: torch.device) -> torch.device:
    """This rank's device: under torchrun, CUDA means the GPU of its local rank."""
    if device.type != "cuda" or world_size() == 1:
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def init(device: torch.device) -> None:
    """Join torchrun's process group once: gloo on CPU, NCCL on CUDA."""
    if dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def finish() -> None:
    """Leave the process group together: a rank that exits while another still holds
    the group open can abort in gloo's teardown (seen once as SIGABRT after ``rank``)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def sharded(fn: Callable[[list[T]], list[R]], items: Sequence[T], keys: Sequence[Hashable],
            device: torch.device) -> list[R]:
    """``fn`` over ``items``, sharded over the ranks and gathered in item order on every
    rank. Items with equal keys go to one rank (round robin over the distinct keys), so
    an item ``fn`` would dedupe is still computed once. Without torchrun: ``fn(items)``."""
    if world_size() == 1:
        return fn(list(items))
    init(device)
    order = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    mine = [i for i, key in enumerate(keys) if order[key] % world_size() == rank()]
    parts: list[Any] = [None] * world_size()
    dist.all_gather_object(parts, (mine, fn([items[i] for i in mine])))
    out: list[Any] = [None] * len(items)
    for indices, values in parts:
        for i, value in zip(indices, values):
            out[i] = value
    return out


class RankSplit:
    """Part ``rank`` of each batch on this process; gradients all-reduced, buffers averaged."""

    def __init__(self, parts: int, device: torch.device,
                 precision: Precision = contextlib.nullcontext) -> None:
        if parts != world_size():
            raise ConfigError(f"train.data_parallel={parts} but torchrun started {world_size()} "
                              f"processes; set --set train.data_parallel={world_size()} (each "
                              "process runs one part of every batch)")
        init(device)
        self.parts, self.rank, self.precision = parts, rank(), precision

    def session(self) -> ContextManager:
        return contextlib.nullcontext()

    def run(self, model: nn.Module, params: list[nn.Parameter], arch: Sample, x: torch.Tensor,
            y: torch.Tensor, weights: torch.Tensor | None) -> StepOutput:
        if len(y) < 2 * self.parts:  # as ThreadSplit: every rank runs the whole batch
            return WholeBatch(self.precision).run(model, params, arch, x, y, weights)
        part = [t.tensor_split(self.parts)[self.rank] if t is not None else None
                for t in (x, y, weights)]
        logits, per_example, loss = _forward_loss(model, arch, *part, len(y), self.precision)
        trainable = [p for p in params if p.requires_grad]
        grads = torch.autograd.grad(loss, trainable, allow_unused=True)
        used = [(p, g) for p, g in zip(trainable, grads) if g is not None]
        _all_reduce_into([g for _, g in used])
        for p, g in used:
            p.grad = g if p.grad is None else p.grad + g
        floats = [b for b in model.buffers() if b.is_floating_point()]
        _all_reduce_into(floats)
        for b in floats:
            b.div_(self.parts)
        return StepOutput(*_gather(logits.detach(), per_example.detach(), self.parts))


def _all_reduce_into(tensors: list[torch.Tensor]) -> None:
    """Sum ``tensors`` over the ranks in place, as one flat message."""
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    pieces = flat.split([t.numel() for t in tensors])
    torch._foreach_copy_(tensors, [p.view_as(t) for p, t in zip(pieces, tensors)])


def _gather(logits: torch.Tensor, per_example: torch.Tensor, parts: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole batch's logits and losses in rank order (parts may differ by one row)."""
    device = logits.device
    sizes = [torch.zeros((), dtype=torch.int64, device=device) for _ in range(parts)]
    dist.all_gather(sizes, torch.tensor(len(logits), device=device))
    longest = int(max(sizes))
    both = torch.cat([logits.float(), per_example.float()[:, None]], dim=1)
    padded = torch.zeros(longest, both.shape[1], dtype=both.dtype, device=both.device)
    padded[:len(both)] = both
    out = [torch.empty_like(padded) for _ in range(parts)]
    dist.all_gather(out, padded)
    whole = torch.cat([o[:int(n)] for o, n in zip(out, sizes)])
    return whole[:, :-1].to(logits.dtype), whole[:, -1].to(per_example.dtype)
