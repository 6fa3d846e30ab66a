"""How a training step runs forward and backward: on the whole batch, or split over CPU threads.

On small CPU tensors (NB201 at C=8: 8-channel BN and convs) one 2-thread pass leaves a
core idle much of the time, while two 1-thread passes over half batches each keep a core
busy: the split step is 1.13-1.27x faster there (benchmarks/RESULTS.md, section 2). Each
thread runs a replica of the supernet that shares its parameters and owns its buffers,
so nothing is written concurrently; gradients and BN running statistics are merged in a
fixed order, so a run is as deterministic (and as exactly resumable) as a serial one.
The price, stated wherever it is used: BN batch statistics come from each part of the
batch (as in DDP without SyncBN).
"""
from __future__ import annotations

import contextlib
import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .space import Sample

Precision = Callable[[], ContextManager]
"""A fresh autocast context (or a null one) per forward."""


@dataclass
class StepOutput:
    """The whole batch's logits and per-example losses, detached."""

    logits: torch.Tensor
    per_example: torch.Tensor


class StepRunner(Protocol):
    """Runs forward + backward of one step and leaves the batch-mean gradient in ``p.grad``.

    ``params`` are ``model``'s parameters, passed in because walking a supernet's module
    tree for them costs about a millisecond a step (the trainer keeps the list).
    """

    def run(self, model: nn.Module, params: list[nn.Parameter], arch: Sample, x: torch.Tensor,
            y: torch.Tensor, weights: torch.Tensor | None) -> StepOutput: ...

    def session(self) -> ContextManager: ...


def _forward_loss(model: nn.Module, arch: Sample, x: torch.Tensor, y: torch.Tensor,
                  weights: torch.Tensor | None, total: int, precision: Precision
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, per-example loss, this part's share of the batch-mean loss)."""
    with precision():
        logits = model(x, arch)
        per_example = F.cross_entropy(logits.float(), y, reduction="none")
    weighted = per_example if weights is None else per_example * weights.to(y.device)
    return logits, per_example, weighted.sum() / total


class WholeBatch:
    """The plain step: one forward and one backward over the batch."""

    def __init__(self, precision: Precision = contextlib.nullcontext) -> None:
        self.precision = precision

    def run(self, model: nn.Module, params: list[nn.Parameter], arch: Sample, x: torch.Tensor,
            y: torch.Tensor, weights: torch.Tensor | None) -> StepOutput:
        logits, per_example, loss = _forward_loss(model, arch, x, y, weights, len(y),
                                                  self.precision)
        loss.backward()
        return StepOutput(logits.detach(), per_example.detach())

    def session(self) -> ContextManager:
        return contextlib.nullcontext()


class ThreadSplit:
    """Splits each batch into ``parts`` and runs them on as many 1-thread replicas at once."""

    def __init__(self, parts: int, precision: Precision = contextlib.nullcontext) -> None:
        if parts < 2:
            raise ValueError(f"ThreadSplit needs at least 2 parts, got {parts}; use WholeBatch")
        self.parts, self.precision = parts, precision
        self._pool: ThreadPoolExecutor | None = None
        self._models: list[nn.Module] = []
        self._buffers: list[list[torch.Tensor]] = []
        self._floats: list[list[torch.Tensor]] = []
        self._signature: tuple[int, ...] = ()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """One intra-op thread per part for the session's length; the pool lives as long."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        self._pool = ThreadPoolExecutor(self.parts - 1, thread_name_prefix="nasengine-split")
        try:
            yield
        finally:
            self._pool.shutdown()
            self._pool, self._models, self._signature = None, [], ()
            self._buffers, self._floats = [], []
            torch.set_num_threads(threads)

    def run(self, model: nn.Module, params: list[nn.Parameter], arch: Sample, x: torch.Tensor,
            y: torch.Tensor, weights: torch.Tensor | None) -> StepOutput:
        if self._pool is None:
            raise RuntimeError("ThreadSplit.run outside its session(); wrap the loop in it")
        if len(y) < 2 * self.parts:  # BN needs two examples per part
            return WholeBatch(self.precision).run(model, params, arch, x, y, weights)
        models = self._prepare(model, params)
        params = [p for p in params if p.requires_grad]
        parts = list(zip(models, x.tensor_split(self.parts), y.tensor_split(self.parts),
                         weights.tensor_split(self.parts) if weights is not None
                         else [None] * self.parts))

        def part(args: tuple) -> tuple[torch.Tensor, torch.Tensor, tuple]:
            m, xs, ys, ws = args
            logits, per_example, loss = _forward_loss(m, arch, xs, ys, ws, len(y),
                                                      self.precision)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            return logits.detach(), per_example.detach(), grads

        futures = [self._pool.submit(part, args) for args in parts[1:]]
        results = [part(parts[0])] + [f.result() for f in futures]
        _sum_into_grad(params, [r[2] for r in results])
        _average_buffers(self._floats)
        return StepOutput(torch.cat([r[0] for r in results]), torch.cat([r[1] for r in results]))

    def _prepare(self, model: nn.Module, params: list[nn.Parameter]) -> list[nn.Module]:
        """``[model, *replicas]``, the replicas sharing ``params``; rebuilt when the
        parameters change (a few-shot split), buffers refreshed from ``model`` every step."""
        signature = (id(model), *map(id, params))
        if signature != self._signature:
            memo = {id(p): p for p in params}
            replicas = [copy.deepcopy(model, memo=dict(memo)) for _ in range(self.parts - 1)]
            self._models = [model, *replicas]
            self._buffers = [list(m.buffers()) for m in self._models]
            self._floats = [[b for b in bs if b.is_floating_point()] for bs in self._buffers]
            self._signature = signature
        for buffers in self._buffers[1:]:
            torch._foreach_copy_(buffers, self._buffers[0])
        return self._models


def _sum_into_grad(params: list[nn.Parameter], grads: list[tuple]) -> None:
    """``p.grad`` = the parts' gradients summed in part order (deterministic)."""
    for i, p in enumerate(params):
        parts = [g[i] for g in grads if g[i] is not None]
        if not parts:
            continue
        total = parts[0]
        for g in parts[1:]:
            total = total + g
        p.grad = total if p.grad is None else p.grad + total


def _average_buffers(floats: list[list[torch.Tensor]]) -> None:
    """Floating buffers (BN running statistics) of the first model = their mean over the
    models; integer ones (batch counters) advanced identically in every part and stay."""
    if not floats[0]:
        return
    for other in floats[1:]:
        torch._foreach_add_(floats[0], other)
    torch._foreach_div_(floats[0], float(len(floats)))


def step_runner(parts: int, device: torch.device, precision: Precision,
                sync_bn: bool = False) -> StepRunner:
    """The runner ``train.data_parallel`` asks for: its parts on torchrun's processes, else
    on threads (a CPU measure; one GPU runs whole batches). ``sync_bn`` (whole-batch BN
    statistics over the parts) needs torchrun."""
    if not isinstance(parts, int) or parts < 1:
        raise ConfigError(f"train.data_parallel must be a whole number >= 1, got {parts!r}; "
                          "use 1 for whole batches, 2 on a 2-core CPU")
    from .distributed import RankSplit, world_size

    if world_size() > 1:  # under torchrun the parts are processes (CPU or CUDA)
        return RankSplit(parts, device, precision, sync_bn)
    if sync_bn:
        raise ConfigError("train.sync_bn = true syncs BN over torchrun's processes, but this is "
                          "one process; here the same run is --set train.data_parallel=1 --set "
                          "train.sync_bn=false (whole batches), which also resumes its checkpoint")
    if parts > 1 and device.type == "cpu":
        return ThreadSplit(parts, precision)
    return WholeBatch(precision)
