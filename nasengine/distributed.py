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

SyncBN (``train.sync_bn``): BN then normalises each part with the statistics of the whole
batch, summed over the ranks (:class:`SyncBatchNorm`), and the run is the one
``train.data_parallel = 1`` makes in one process. ``torch.nn.SyncBatchNorm`` is not used:
it refuses CPU tensors (no gloo) and ``convert_sync_batchnorm`` would replace the
supernet's sliced (entangled) BN with a full-width one. Intercepting ``F.batch_norm``
instead syncs every BN the forward runs, changes no module, and leaves the state dict
(and so the checkpoint) exactly as without SyncBN.

Data: every rank reads the same seeded global batch (order and augmentation are a pure
function of (seed, epoch)) and keeps its part. Only rank 0 writes files. Ranking shards
the archs over the ranks (:func:`sharded`).
"""
from __future__ import annotations

import contextlib
import inspect
import os
from typing import Any, Callable, ContextManager, Hashable, Sequence, TypeVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

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


class _SumOverRanks(torch.autograd.Function):
    """``tensor`` summed over the ranks. Every rank's loss depends on the sum, so the
    gradient of each rank's input is the sum of the ranks' gradients: summed likewise."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


def synced_batch_norm(x: torch.Tensor, running_mean: torch.Tensor | None,
                      running_var: torch.Tensor | None, weight: torch.Tensor | None,
                      bias: torch.Tensor | None, momentum: float, eps: float) -> torch.Tensor:
    """Training-mode ``F.batch_norm`` with the statistics of the input of all ranks (two
    passes: the mean, then the centred squares, as one process computes them)."""
    total = _SumOverRanks.apply
    dims = [d for d in range(x.dim()) if d != 1]
    shape = [1, -1] + [1] * (x.dim() - 2)
    xf = x.to(torch.promote_types(x.dtype, torch.float32))  # bf16/fp16 (AMP): in float32
    count = torch.full((1,), x.numel() // x.shape[1], dtype=xf.dtype, device=x.device)
    sums = total(torch.cat([xf.sum(dims), count]))
    n = sums[-1].detach()
    mean = sums[:-1] / n
    centred = xf - mean.view(shape)
    var = total((centred * centred).sum(dims)) / n
    out = centred * torch.rsqrt(var + eps).view(shape)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    with torch.no_grad():  # the running statistics' update rule of F.batch_norm
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
        if running_var is not None:
            unbiased = var * (n / (n - 1).clamp(min=1))
            running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
    return out.to(x.dtype)


_BATCH_NORM = inspect.signature(F.batch_norm)


class SyncBatchNorm(TorchFunctionMode):
    """While active (around a part's forward), every training-mode ``F.batch_norm`` (plain
    ``nn.BatchNorm2d``, affine or not, and the entangled BN's sliced call) uses the whole
    batch's statistics over the ranks; inference-mode calls are left alone."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.batch_norm:
            call = _BATCH_NORM.bind(*args, **kwargs)
            call.apply_defaults()
            a = call.arguments
            if a["training"]:
                return synced_batch_norm(a["input"], a["running_mean"], a["running_var"],
                                         a["weight"], a["bias"], a["momentum"], a["eps"])
        return func(*args, **kwargs)


class RankSplit:
    """Part ``rank`` of each batch on this process; gradients all-reduced, buffers averaged.

    With ``sync_bn`` BN normalises each part by the whole batch's statistics."""

    def __init__(self, parts: int, device: torch.device,
                 precision: Precision = contextlib.nullcontext, sync_bn: bool = False) -> None:
        if parts != world_size():
            raise ConfigError(f"train.data_parallel={parts} but torchrun started {world_size()} "
                              f"processes; set --set train.data_parallel={world_size()} (each "
                              "process runs one part of every batch)")
        init(device)
        self.parts, self.rank, self.precision = parts, rank(), precision
        self.batch_norm: Callable[[], ContextManager] = (
            SyncBatchNorm if sync_bn else contextlib.nullcontext)

    def session(self) -> ContextManager:
        return contextlib.nullcontext()

    def run(self, model: nn.Module, params: list[nn.Parameter], arch: Sample, x: torch.Tensor,
            y: torch.Tensor, weights: torch.Tensor | None) -> StepOutput:
        if len(y) < 2 * self.parts:  # as ThreadSplit: every rank runs the whole batch
            return WholeBatch(self.precision).run(model, params, arch, x, y, weights)
        part = [t.tensor_split(self.parts)[self.rank] if t is not None else None
                for t in (x, y, weights)]
        with self.batch_norm():
            logits, per_example, loss = _forward_loss(model, arch, *part, len(y),
                                                      self.precision)
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
