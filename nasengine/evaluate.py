"""Score subnets with inherited weights under an explicit BatchNorm protocol.

The BN protocol is the largest single source of irreproducible one-shot
results, so it is a named, registered object and every report records it:

* ``batch``: normalise with the statistics of the evaluation batch itself
  (``track_running_stats=False`` semantics, as NB201/PA&DA search code).
* ``recalibrate``: reset running stats, forward K training batches in train
  mode (exact average), then evaluate in eval mode (SPOS).
"""
from __future__ import annotations

import contextlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from abc import ABC, abstractmethod
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch import nn

from .device import tune_cpu_allocator
from .progress import progress_bar
from .registry import Registry
from .space import Sample
from .supernet.base import Supernet

Batch = tuple[torch.Tensor, torch.Tensor]


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


class BNProtocol(ABC):
    """How BatchNorm behaves while one subnet is scored."""

    name = "bn"

    @abstractmethod
    def scoring(self, supernet: Supernet, arch: Sample) -> contextlib.AbstractContextManager:
        """Context in which ``supernet`` (in eval mode) scores ``arch``."""

    def describe(self) -> dict[str, Any]:
        return {"bn": self.name}


BN_PROTOCOLS: Registry[BNProtocol] = Registry("BN protocol")


@BN_PROTOCOLS.register("batch")
class BatchStatistics(BNProtocol):
    """Use each evaluation batch's own statistics; running buffers are untouched."""

    name = "batch"

    @contextlib.contextmanager
    def scoring(self, supernet: Supernet, arch: Sample) -> Iterator[None]:
        saved = [(bn, bn.running_mean, bn.running_var) for bn in _batchnorms(supernet)]
        try:
            for bn, _, _ in saved:  # buffers set to None make BN use batch stats, no update
                bn.running_mean, bn.running_var = None, None
            yield
        finally:
            for bn, mean, var in saved:
                bn.running_mean, bn.running_var = mean, var


@BN_PROTOCOLS.register("recalibrate")
class Recalibration(BNProtocol):
    """SPOS: re-estimate running stats of this subnet on K training batches."""

    name = "recalibrate"

    def __init__(self, batches: Sequence[Batch]) -> None:
        if not batches:
            raise ValueError("recalibration needs at least one training batch (recal_batches >= 1)")
        self.batches = list(batches)

    @contextlib.contextmanager
    def scoring(self, supernet: Supernet, arch: Sample) -> Iterator[None]:
        bns = _batchnorms(supernet)
        saved = [(bn.momentum, bn.running_mean.clone(), bn.running_var.clone(),
                  bn.num_batches_tracked.clone()) for bn in bns]
        try:
            for bn in bns:
                bn.reset_running_stats()
                bn.momentum = None  # cumulative average: every batch weighs the same
                bn.train()
            with torch.inference_mode():
                for x, _ in self.batches:
                    supernet(x, arch)
            for bn in bns:
                bn.eval()
            yield
        finally:
            for bn, (momentum, mean, var, count) in zip(bns, saved):
                bn.momentum = momentum
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.num_batches_tracked.copy_(count)

    def describe(self) -> dict[str, Any]:
        return {"bn": self.name, "recal_batches": len(self.batches),
                "recal_batch_size": int(self.batches[0][0].shape[0])}


class Evaluator:
    """Top-1 accuracy (%) of subnets on fixed, preprocessed held-out batches."""

    def __init__(self, supernet: Supernet, batches: Sequence[Batch], protocol: BNProtocol) -> None:
        if not batches:
            raise ValueError("the evaluator needs at least one held-out batch")
        self.supernet, self.batches, self.protocol = supernet, list(batches), protocol

    @torch.inference_mode()
    def score(self, arch: Sample) -> float:
        self.supernet.eval()
        correct = total = 0
        with self.protocol.scoring(self.supernet, arch):
            for x, y in self.batches:
                correct += int((self.supernet(x, arch).argmax(1) == y).sum())
                total += len(y)
        return 100.0 * correct / total

    def score_many(self, archs: Sequence[Sample], progress: bool = True,
                   workers: int = 1) -> list[float]:
        """Scores of ``archs``; archs the supernet proves equivalent are scored once.

        ``workers > 1`` scores shards in forked 1-thread processes (CPU only): small
        supernets barely use a second intra-op thread, so processes scale where threads
        do not. Scores equal a serial 1-thread run.
        """
        if _on_cpu(self.supernet):  # a heap that keeps its pages (see the function)
            tune_cpu_allocator()
        keys = [tuple(self.supernet.canonical(a).items()) for a in archs]
        unique = list(dict.fromkeys(keys))
        values: list[float] = []
        with progress_bar(total=len(unique), desc="ranking", unit="arch",
                          enabled=progress) as bar:
            for chunk in self._score_chunks(unique, workers):
                values += chunk
                bar.update(len(chunk))
        scores = dict(zip(unique, values))
        self.distinct_evaluations = len(unique)
        return [scores[key] for key in keys]

    def _score_chunks(self, unique: list[tuple], workers: int) -> Iterator[list[float]]:
        """Scores of ``unique`` in order, a chunk at a time (for the progress bar)."""
        size = 8
        chunks = [unique[i:i + size] for i in range(0, len(unique), size)]
        if workers <= 1 or len(chunks) < 2 or not _can_fork(self.supernet):
            yield from (_score_keys(self, chunk) for chunk in chunks)
            return
        global _FORKED
        _FORKED = self  # the forked workers inherit it: no pickling of the supernet
        context = multiprocessing.get_context("fork")
        try:  # an executor, not a Pool: a killed worker raises instead of hanging
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
                yield from pool.map(_score_forked, chunks)
        except BrokenProcessPool as exc:
            raise RuntimeError(f"a ranking worker process died ({exc}); rank with "
                               "evaluate.workers=1, or free memory and retry") from None
        finally:
            _FORKED = None

    def describe(self) -> dict[str, Any]:
        return {**self.protocol.describe(), "eval_images": sum(len(y) for _, y in self.batches),
                "eval_batches": len(self.batches),
                "distinct_evaluations": getattr(self, "distinct_evaluations", None)}


_FORKED: Evaluator | None = None


def _on_cpu(model: nn.Module) -> bool:
    return all(p.device.type == "cpu" for p in model.parameters())


def _can_fork(model: nn.Module) -> bool:
    return _on_cpu(model) and "fork" in multiprocessing.get_all_start_methods()


def _one_thread() -> None:
    torch.set_num_threads(1)


def _score_keys(evaluator: Evaluator, keys: Iterable[tuple]) -> list[float]:
    return [evaluator.score(dict(key)) for key in keys]


def _score_forked(keys: list[tuple]) -> list[float]:
    assert _FORKED is not None, "worker started without an evaluator"
    return _score_keys(_FORKED, keys)
