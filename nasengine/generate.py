"""Budget queries: the architecture a trained generator proposes for a complexity budget.

A run trained with an architecture generator (``sampler.name = "shiftnas"``) answers "the best
arch under M params" without a search: the generator proposes archs near the budget, each
checked exactly against the budget (the stand-alone network's params/FLOPs at the space's
default width, the units of ``nasengine search --max-params``), and the supernet scores them
with the run's evaluation protocol. ``refine`` then runs a short constrained search under the
same budget and keeps whichever of the two the supernet scores higher.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .checkpoint import atomic_write_json
from .errors import ConfigError
from .space import Sample

if TYPE_CHECKING:  # pragma: no cover
    from .api import Pipeline

GENERATE = "generate.json"


@runtime_checkable
class BudgetProposer(Protocol):
    """A sampler that can propose archs for a budget (ShiftNAS's generator)."""

    def propose(self, fits: Callable[[Sample], bool]) -> list[Sample]: ...

    def smallest(self) -> Sample: ...


def generate(pipe: Pipeline, out: Path, state: dict[str, Any], limits: dict[str, float],
             refine: int = 0, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Propose, check, score; ``state`` is the run's checkpoint (for the generator's state)."""
    from .api import complexity_limit, search

    sampler = pipe.sampler
    if not isinstance(sampler, BudgetProposer):
        raise ConfigError(f"{out} was trained with sampler {pipe.config.sampler.name!r}, which has "
                          "no architecture generator; train with sampler.name=shiftnas, or use "
                          "`nasengine search --max-params M` for a budget-constrained search")
    if not limits:
        raise ConfigError("generate needs a budget: give --max-params M or --max-flops M")
    start = time.perf_counter()
    sampler.load_state_dict(state["sampler"])
    sampler.bind(pipe.sampler_context())
    fits = complexity_limit(pipe.complexity, limits)  # at the run's width, measured once per arch
    smallest = sampler.smallest()
    if fits(smallest) is not None:
        raise ConfigError(f"no architecture fits the budget: even the smallest one "
                          f"({pipe.space.format(smallest)}) has {fits(smallest)}; raise the limit")
    candidates = sampler.propose(lambda arch: fits(arch) is None)
    evaluator = pipe.evaluator()
    scored = sorted(((evaluator.score(a), pipe.space.encode(a), a) for a in candidates),
                    key=lambda t: (-t[0], t[1]))
    score, _, arch = scored[0]
    ground = pipe.ground_truth
    truth, optimum = (ground.accuracy, ground.best()) if ground else (None, None)
    report = {"limits": limits, "candidates": len(candidates),
              "generated": _entry(pipe, arch, score, truth),
              "seconds": time.perf_counter() - start}
    report["best"] = report["generated"]
    if refine:
        found = search(pipe.config, out, "evolution", refine, seed, progress=progress, pipe=pipe,
                       limits=limits)["best"]
        report["refined"] = _entry(pipe, pipe.space.parse(found["arch"]), found["score"], truth)
        if report["refined"]["score"] > score:
            report["best"] = report["refined"]
    if optimum is not None:
        report["best_true_acc_any_size"] = optimum
    atomic_write_json(out / GENERATE, report)
    return report


def _entry(pipe: Pipeline, arch: Sample, score: float, truth: Any) -> dict[str, Any]:
    entry = {"arch": pipe.space.format(arch), "score": score, **pipe.complexity(arch)}
    if truth is not None:
        entry["true_acc"] = truth(pipe.space.format(arch))
    return entry
