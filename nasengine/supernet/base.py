"""The supernet role: one module holding the weights of every subnet of a space.

A supernet is a *skeleton* (from the search-space family) composed with a
*sharing mechanism* (how the choices of one decision hold weights). Samplers,
trainers and evaluators only see this interface; skeletons only see :class:`Edge`,
the one interface every sharing mechanism implements.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from typing import Any, Mapping

import torch
from torch import nn

from ..space import Sample, SearchSpace


class Edge(nn.Module, ABC):
    """The choices of one decision, however a sharing mechanism holds their weights.

    Weight sharing keeps one module per choice; entanglement slices several choices out
    of one super-op. Skeletons run, inspect and copy choices only through these methods.
    """

    @abstractmethod
    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        """The output of ``choice`` alone."""

    @abstractmethod
    def module_for(self, choice: str) -> nn.Module | None:
        """The module whose weights ``choice`` trains (None: a choice without weights)."""

    @abstractmethod
    def extract(self, choice: str) -> nn.Module:
        """A stand-alone module of ``choice``, its weights copied out of the edge."""

    def forward_mixture(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor],
                        one_pass: bool = True) -> torch.Tensor:
        """``sum_c w_c forward(x, c)``: K separate forwards (the DARTS baseline).

        A mechanism that can mix its choices in one pass overrides this and honours
        ``one_pass=False`` by falling back here.
        """
        total: torch.Tensor | None = None
        for choice, w in weights.items():
            out = w * self(x, choice)
            total = out if total is None else total + out
        return total if total is not None else torch.zeros_like(x)


class Supernet(nn.Module, ABC):
    """``forward(x, arch)`` runs the subnet ``arch`` on its inherited weights."""

    space: SearchSpace

    @abstractmethod
    def forward(self, x: torch.Tensor, arch: Mapping[str, object]) -> torch.Tensor:
        """Logits of subnet ``arch`` (a sample of :attr:`space`)."""

    def canonical(self, arch: Mapping[str, object]) -> Sample:
        """An arch computing exactly the same function as ``arch`` in this supernet.

        Archs with equal canonical forms share one evaluation. The default is
        ``arch`` itself; a supernet overrides it only with a proven equivalence.
        """
        return dict(arch)

    def choice_modules(self, arch: Sample) -> dict[str, list[nn.Module]]:
        """Modules trained by ``arch``, keyed by choice value (e.g. op name).

        The default names none; :meth:`choice_grad_norms` and few-shot splitting need it.
        """
        return {}

    def decision_modules(self, arch: Sample) -> dict[tuple[str, Any], list[nn.Module]]:
        """The modules of each (decision, chosen value), from :meth:`choice_modules` alone.

        ``choice_modules`` pools a value's modules over decisions; switching decision ``d``
        to another value removes exactly ``d``'s modules from that pool.
        """
        pooled = self.choice_modules(arch)
        groups: dict[tuple[str, Any], list[nn.Module]] = {}
        for label, dec in self.space.decisions.items():
            value = arch[label]
            other = next((v for v in dec.values if v != value), None)
            if value not in pooled or other is None:
                continue
            rest = {id(m) for m in self.choice_modules({**arch, label: other}).get(value, [])}
            groups[(label, value)] = [m for m in pooled[value] if id(m) not in rest]
        return groups

    def choice_grad_norms(self, arch: Sample, per_decision: bool = False
                          ) -> dict[Hashable, torch.Tensor]:
        """The gradient norm each choice of ``arch`` holds, read after its backward.

        Keyed by choice value (pooled over the decisions that chose it) or, with
        ``per_decision``, by (decision, value). A norm is the sum of the norms of the
        choice's parameter gradients (0-dim tensors, so a caller syncs once for all);
        a choice whose modules hold no gradient is left out. PA&DA's path importance.
        """
        groups = self.decision_modules(arch) if per_decision else self.choice_modules(arch)
        norms = {key: _grad_norm(modules) for key, modules in groups.items()}
        return {key: norm for key, norm in norms.items() if norm is not None}


def _grad_norm(modules: Iterable[nn.Module]) -> torch.Tensor | None:
    """Sum of the gradient norms of the modules' parameters (None: no gradient at all)."""
    norms = [torch.linalg.vector_norm(p.grad.float()) for m in modules for p in m.parameters()
             if p.grad is not None]
    return torch.stack(norms).sum() if norms else None


def has_choice_modules(supernet: Supernet) -> bool:
    """Whether ``choice_modules`` names a module for some choice of some decision."""
    space = supernet.space
    base = {label: d.values[0] for label, d in space.decisions.items()}
    return any(supernet.choice_modules({**base, label: v})
               for label, d in space.decisions.items() for v in d.values)


class MixtureSupernet(Supernet):
    """A supernet that can also run a continuous relaxation of its space (DARTS-style)."""

    @abstractmethod
    def forward_mixture(self, x: torch.Tensor, probs: Mapping[str, torch.Tensor],
                        one_pass: bool = True) -> torch.Tensor:
        """Logits of the mixture: ``probs[label]`` weighs that decision's choices in order.

        ``one_pass=False`` runs each mixed op as K separate forwards (the DARTS baseline).
        """
