"""Work spread over forked 1-thread processes that inherit the caller's objects.

Small CPU networks barely use a second intra-op thread, so processes scale where
threads do not (benchmarks/RESULTS.md §3). Forking lets workers inherit a supernet or a
proxy table without pickling it; results come back in order, so a forked run equals a
serial one.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")

_INHERITED: Any = None


def inherited() -> Any:
    """The ``state`` of the :func:`forked_map` this worker was forked from."""
    assert _INHERITED is not None, "worker started without the state it inherits"
    return _INHERITED


def can_fork(tensor: torch.Tensor) -> bool:
    """Forked workers only for CPU tensors (CUDA state does not survive a fork)."""
    return tensor.device.type == "cpu" and "fork" in multiprocessing.get_all_start_methods()


def forked_map(fn: Callable[[T], R], items: Iterable[T], workers: int, state: Any,
               died: str) -> Iterator[R]:
    """``fn(item)`` for each item, in order, in ``workers`` forked 1-thread processes
    whose :func:`inherited` is ``state``; ``died`` says what to do if one is killed."""
    global _INHERITED
    _INHERITED = state
    context = multiprocessing.get_context("fork")
    try:  # an executor, not a Pool: a killed worker raises instead of hanging
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
            yield from pool.map(fn, items)
    except BrokenProcessPool as exc:
        raise RuntimeError(f"a worker process died ({exc}); {died}") from None
    finally:
        _INHERITED = None


def _one_thread() -> None:
    torch.set_num_threads(1)
