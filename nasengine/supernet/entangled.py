"""Weight entanglement: every choice of a layer is a slice of one super-weight.

Weight sharing keeps one module per choice, so a supernet costs the sum of its
choices. Entanglement (OFA; TangleNAS, Sukthanker et al., ICLR 2024) keeps only the
largest weight: a smaller kernel is its centre crop and a narrower layer its leading
channels, so the supernet costs its largest subnet and every choice trains the
shared core.

Two forwards:

* **single path** (one sampled config): the op runs on a slice (a view, no copy);
* **one-pass mixture** (gradient-based search): with weights ``w_k`` per choice, the
  effective weight is ``sum_k w_k * zero_pad(slice_k)``, built as the largest weight
  times a kernel mask, then ONE convolution/matmul; widths mix by a channel mask.
  Because a convolution is linear in its weight, this equals the weighted sum of K
  separate forwards, at the activation memory of one.

A space opts in per choice with :class:`SlicedChoice` (which group of choices is one
super-op, and which slice each is); the ``"entangled"`` sharing mechanism builds one
super-op per group. Weight sharing builds the same choices as separate modules.
The masks live in :mod:`.masks`, the entangled layers in :mod:`.layers` and elastic
depth in :mod:`.depth`; this module holds the edge and the mechanism's registration.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch import nn

from ..errors import SpaceError
from .base import Edge
from .layers import EntangledConv2d, EntangledLinear
from .sharing import SHARING, ChoiceFactory, SlicedChoice, check_choice_names

__all__ = ["EntangledEdge", "check_entangled"]


class EntangledEdge(Edge):
    """One super-op per group of :class:`SlicedChoice`; other choices stay separate modules."""

    def __init__(self, choices: Mapping[str, ChoiceFactory]) -> None:
        super().__init__()
        check_choice_names(choices)
        groups: dict[str, list[str]] = {}
        for name, make in choices.items():
            if isinstance(make, SlicedChoice):
                groups.setdefault(make.group, []).append(name)
        self.shared = nn.ModuleDict({
            group: choices[names[0]].super_op([dict(choices[n].config) for n in names])
            for group, names in groups.items()})
        self.choices = nn.ModuleDict({name: make() for name, make in choices.items()
                                      if not isinstance(make, SlicedChoice)})
        self.routes: dict[str, tuple[str, dict[str, Any]]] = {
            n: (group, dict(choices[n].config)) for group, names in groups.items() for n in names}

    def forward(self, x: torch.Tensor, choice: str) -> torch.Tensor:
        route = self.routes.get(choice)
        if route is None:
            return self.choices[choice](x)
        group, config = route
        return self.shared[group](x, **config)

    def module_for(self, choice: str) -> nn.Module | None:
        """The module whose weights ``choice`` trains (a shared super-op for sliced ones)."""
        route = self.routes.get(choice)
        if route is not None:
            return self.shared[route[0]]
        return self.choices[choice] if choice in self.choices else None

    def forward_mixture(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor],
                        one_pass: bool = True) -> torch.Tensor:
        """``sum_c w_c op_c(x)``, each group of slices in one pass (K passes without ``one_pass``).

        A group's members are renormalised to sum to one, mixed at the weight level,
        and the group's output is scaled by their total weight (exact for ops linear
        in their weight up to an eval-mode BN; TangleNAS semantics otherwise).
        """
        if not one_pass:
            return super().forward_mixture(x, weights, one_pass)
        total: torch.Tensor | None = None
        grouped: dict[str, list[tuple[dict[str, Any], torch.Tensor]]] = {}
        for choice, w in weights.items():
            route = self.routes.get(choice)
            if route is not None:
                grouped.setdefault(route[0], []).append((route[1], w))
                continue
            if choice in self.choices:
                out = w * self.choices[choice](x)
                total = out if total is None else total + out
        for group, members in grouped.items():
            group_weights = torch.stack([w for _, w in members])
            mass = group_weights.sum()
            out = mass * self.shared[group].forward_mixture(  # clamp: a group may weigh 0
                x, [c for c, _ in members], group_weights / mass.clamp_min(1e-12))
            total = out if total is None else total + out
        return total if total is not None else torch.zeros_like(x)

    def extract(self, choice: str) -> nn.Module:
        """A stand-alone copy of ``choice`` (its slice, copied out of the super-op)."""
        route = self.routes.get(choice)
        if route is None:
            return copy.deepcopy(self.choices[choice])
        group, config = route
        return self.shared[group].extract(**config)


@SHARING.register("entangled")
def entangled(choices: Mapping[str, ChoiceFactory]) -> Edge:
    return EntangledEdge(choices)


def check_entangled(supernet: nn.Module, space: str) -> None:
    """Refuse an "entangled" supernet in which no weight is a slice of another.

    It would silently be weight sharing under another name (same parameters, same runs).
    """
    if not any(isinstance(m, (EntangledConv2d, EntangledLinear)) for m in supernet.modules()):
        raise SpaceError(f"supernet.sharing=\"entangled\" on space {space!r} has nothing to "
                         "slice: none of its choices is a SlicedChoice or an entangled conv/linear "
                         "(kernels or widths as choices); use supernet.sharing=\"weight_sharing\"")


entangled.check = check_entangled  # type: ignore[attr-defined]  # run by SpaceFamily.build_supernet
