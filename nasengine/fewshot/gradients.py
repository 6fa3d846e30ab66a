"""Gradient matching: how much the choices of one decision agree on the shared weights.

GM-NAS (Hu, Wang et al., ICLR 2022): fix decision ``d`` to choice ``v``, sample the
other decisions, and take the gradient of the loss with respect to the weights that
every choice of ``d`` trains, i.e. everything outside ``d``'s own choice modules. Two
choices whose gradients point the same way can keep sharing those weights; choices
whose gradients disagree pull them apart and are better put in separate
sub-supernets. The score of a pair is the cosine of their gradient vectors.
"""
from __future__ import annotations

import contextlib
import fnmatch
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..space import Sample
from ..supernet.base import Supernet

Batch = tuple[torch.Tensor, torch.Tensor]
AVERAGES = ("gradients", "similarities")


def cosine_matrix(vectors: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """k x k cosine similarities of the rows of ``vectors`` (a zero row scores 0)."""
    v = vectors.double()
    norms = v.norm(dim=1, keepdim=True)
    unit = v / norms.clamp_min(eps)
    sim = (unit @ unit.T).clamp(-1.0, 1.0)
    sim.fill_diagonal_(1.0)
    return sim


def decision_parameters(supernet: Supernet, decision: str) -> set[int]:
    """Ids of the parameters that belong to ``decision``'s own choices.

    A module belongs to the decision when whether it is used depends on the decision's
    choice: it is in some choice's :meth:`Supernet.choice_modules` but not in all of them.
    """
    space = supernet.space
    base = {label: d.values[0] for label, d in space.decisions.items()}
    used = []
    for value in space.decisions[decision].values:
        modules = supernet.choice_modules({**base, decision: value}).values()
        used.append({id(p) for group in modules for m in group for p in m.parameters()})
    return set.union(*used) - set.intersection(*used)


def shared_parameters(supernet: Supernet, decision: str,
                      patterns: Sequence[str] = ("*",)) -> list[nn.Parameter]:
    """Parameters whose names match ``patterns`` and that lie outside ``decision``'s choices."""
    own = decision_parameters(supernet, decision)
    params = [p for name, p in supernet.named_parameters()
              if id(p) not in own and any(fnmatch.fnmatch(name, pat) for pat in patterns)]
    if not params:
        raise ConfigError(f"no shared parameter matches {list(patterns)} outside decision "
                          f"{decision!r}; widen fewshot.options.params (e.g. ['*'])")
    return params


def flat_gradient(params: Sequence[nn.Parameter]) -> torch.Tensor:
    """The gradients of ``params`` as one vector (an unused parameter counts as 0)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in params])


@contextlib.contextmanager
def measuring(supernet: Supernet) -> Iterator[None]:
    """Train mode for the measurement, then buffers, grads and mode as they were.

    Scoring must not change the run: BN running statistics are restored, so a
    run with splits trains exactly like one that only paused to look.
    """
    buffers = [(b, b.detach().clone()) for b in supernet.buffers()]
    was_training = supernet.training
    supernet.train()
    try:
        yield
    finally:
        supernet.zero_grad(set_to_none=True)
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        supernet.train(was_training)


def similarities(supernet: Supernet, decisions: Sequence[str], batches: Iterable[Batch],
                 rng: random.Random, patterns: Sequence[str] = ("*",),
                 average: str = "gradients") -> dict[str, torch.Tensor]:
    """Gradient-matching similarity matrix of every decision in ``decisions``.

    Each batch draws one base arch from ``supernet.space`` (shared by all decisions);
    for each decision and each of its choices, that arch with the decision fixed to the
    choice runs forward and backward. ``average="gradients"`` averages each choice's
    gradient over the batches, then takes cosines; ``"similarities"`` averages the
    per-batch cosines (as the GM-NAS code does).
    """
    if average not in AVERAGES:
        raise ConfigError(f"unknown gradient average {average!r}; use one of {list(AVERAGES)}")
    batches = list(batches)
    if not batches:
        raise ConfigError("gradient matching got no batch; give it at least one "
                          "(fewshot.options.batches >= 1 and a non-empty loader)")
    bases = [supernet.space.sample(rng) for _ in batches]
    result = {}
    with measuring(supernet):
        for d in decisions:
            params = shared_parameters(supernet, d, patterns)
            total = None
            for (x, y), base in zip(batches, bases):
                grads = _choice_gradients(supernet, base, d, x, y, params)
                term = grads if average == "gradients" else cosine_matrix(grads)
                total = term if total is None else total + term
            sim = cosine_matrix(total) if average == "gradients" else total / len(batches)
            result[d] = sim.cpu()
    return result


def _choice_gradients(supernet: Supernet, base: Sample, decision: str, x: torch.Tensor,
                      y: torch.Tensor, params: Sequence[nn.Parameter]) -> torch.Tensor:
    """One row per choice of ``decision``: the shared-weight gradient with that choice fixed."""
    rows = []
    for value in supernet.space.decisions[decision].values:
        supernet.zero_grad(set_to_none=True)
        arch: dict[str, Any] = {**base, decision: value}
        F.cross_entropy(supernet(x, arch).float(), y).backward()
        rows.append(flat_gradient(params))
    return torch.stack(rows)
