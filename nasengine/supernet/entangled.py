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
"""
from __future__ import annotations

import copy
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpaceError
from .base import Supernet
from .sharing import SHARING, ChoiceFactory, check_choice_names

__all__ = ["EntangledBatchNorm2d", "EntangledConv2d", "EntangledEdge", "EntangledLinear",
           "MixtureSupernet", "SlicedChoice", "choice_module", "depth_mixture", "elastic_depth",
           "extract_choice", "kernel_mask", "marginal", "mixture_forward", "width_mask"]


# -- masks: the weighted sum of zero-padded slices, as one tensor ----------------------
def _check_choices(what: str, choices: Sequence[int], largest: int | None = None
                   ) -> tuple[int, ...]:
    values = tuple(int(c) for c in choices)
    if not values or min(values) < 1:
        raise SpaceError(f"{what} choices must be positive integers, got {list(choices)}")
    if largest is not None and max(values) > largest:
        raise SpaceError(f"{what} choice {max(values)} is above the super-weight's {largest}; "
                         f"build the entangled op with a larger maximum")
    return values


def kernel_mask(kernels: Sequence[int], weights: torch.Tensor) -> torch.Tensor:
    """``sum_k w_k * (centred k x k block of ones)``, of the largest kernel's size.

    Multiplying the largest kernel by it gives ``sum_k w_k * zero_pad(centre_crop_k)``.
    """
    size = max(kernels)
    mask = weights.new_zeros(size, size)
    for k, w in zip(kernels, weights):
        lo = (size - k) // 2
        mask = mask + F.pad(w.expand(k, k), (lo, lo, lo, lo))
    return mask


def width_mask(widths: Sequence[int], weights: torch.Tensor, largest: int) -> torch.Tensor:
    """``sum_w p_w * [c < w]`` for channels ``c < largest``: leading-slice widths, mixed."""
    index = torch.arange(largest, device=weights.device)
    below = (index[None, :] < torch.tensor(widths, device=weights.device)[:, None])
    return (weights[:, None] * below.to(weights.dtype)).sum(0)


def _centre(size: int, kernel: int) -> slice:
    lo = (size - kernel) // 2
    return slice(lo, lo + kernel)


def marginal(configs: Sequence[Mapping[str, Any]], weights: torch.Tensor, key: str,
             values: Sequence[Any]) -> torch.Tensor:
    """Weights of ``values`` of one config field: the sum over configs that share it.

    Mixing each field by its marginal is exact when ``weights`` factorise over the
    fields (a product of per-decision softmaxes does).
    """
    index = {v: i for i, v in enumerate(values)}
    unknown = [c[key] for c in configs if c[key] not in index]
    if unknown:
        raise SpaceError(f"{key} {unknown[0]!r} is not a choice of this entangled op; "
                         f"choose one of {list(values)}")
    slots = torch.tensor([index[c[key]] for c in configs], device=weights.device)
    return weights.new_zeros(len(values)).index_add(0, slots, weights)


# -- entangled layers -----------------------------------------------------------------
class EntangledConv2d(nn.Module):
    """A conv whose kernel size (centre crop) and in/out widths (leading slices) are choices.

    Args:
        in_channels / out_channels: the largest widths (the super-weight's shape).
        kernels: odd kernel sizes; smaller ones are centre crops of the largest.
        depthwise: one filter per channel (``groups`` = width), as in MBConv blocks;
            then in and out widths are the same choice.
    """

    def __init__(self, in_channels: int, out_channels: int, kernels: Sequence[int] = (1,),
                 stride: int = 1, *, depthwise: bool = False, bias: bool = False) -> None:
        super().__init__()
        self.kernels = _check_choices("kernel", kernels)
        if any(k % 2 == 0 for k in self.kernels):
            raise SpaceError(f"kernel choices must be odd (centre crops need a centre), "
                             f"got {list(self.kernels)}")
        if depthwise and in_channels != out_channels:
            raise SpaceError(f"a depthwise conv maps C to C channels, got {in_channels} -> "
                             f"{out_channels}; give equal widths")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.depthwise = stride, depthwise
        k = max(self.kernels)
        self.weight = nn.Parameter(torch.empty(out_channels, 1 if depthwise else in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Conv2d's default init

    @property
    def max_kernel(self) -> int:
        return self.weight.shape[-1]

    def check(self, kernel: int, in_channels: int, out_channels: int) -> None:
        """Raise :class:`SpaceError` naming the allowed values if the config is not a slice."""
        if kernel not in self.kernels:
            raise SpaceError(f"kernel {kernel} is not a choice of this entangled conv; "
                             f"choose one of {list(self.kernels)}")
        for what, value, top in (("input", in_channels, self.in_channels),
                                 ("output", out_channels, self.out_channels)):
            if not 1 <= value <= top:
                raise SpaceError(f"{what} width {value} is outside 1..{top} of this entangled "
                                 f"conv; use a width of at most {top} (or build a wider op)")
        if self.depthwise and in_channels != out_channels:
            raise SpaceError(f"a depthwise conv keeps its width, got {in_channels} -> "
                             f"{out_channels}")

    def weight_slice(self, kernel: int, in_channels: int, out_channels: int) -> torch.Tensor:
        """The sub-weight of one config: a view into :attr:`weight`, never a copy."""
        self.check(kernel, in_channels, out_channels)
        centre = _centre(self.max_kernel, kernel)
        c_in = 1 if self.depthwise else in_channels
        return self.weight[:out_channels, :c_in, centre, centre]

    def forward(self, x: torch.Tensor, kernel: int | None = None,
                out_channels: int | None = None) -> torch.Tensor:
        """Single path: the input width is ``x``'s; defaults are the largest choices."""
        c_in = x.shape[1]
        c_out = c_in if self.depthwise else (self.out_channels if out_channels is None
                                             else out_channels)
        kernel = self.max_kernel if kernel is None else kernel
        weight = self.weight_slice(kernel, c_in, c_out)
        bias = None if self.bias is None else self.bias[:c_out]
        return F.conv2d(x, weight, bias, self.stride, kernel // 2,
                        groups=c_in if self.depthwise else 1)

    def forward_mixture(self, x: torch.Tensor, kernel_weights: torch.Tensor | None = None,
                        out_widths: Sequence[int] | None = None,
                        out_weights: torch.Tensor | None = None) -> torch.Tensor:
        """One conv with ``sum_k w_k zero_pad(slice_k)``; output channels mixed by a width mask.

        ``kernel_weights`` align with :attr:`kernels`; ``x`` must have the full input width.
        """
        if x.shape[1] != self.in_channels:
            raise SpaceError(f"the mixture forward runs at full width: the input has {x.shape[1]} "
                             f"channels, this conv {self.in_channels}; mix narrower widths with a "
                             "channel mask instead of slicing the input")
        weight = self.weight
        if kernel_weights is not None:
            weight = weight * kernel_mask(self.kernels, kernel_weights)
        y = F.conv2d(x, weight, self.bias, self.stride, self.max_kernel // 2,
                     groups=x.shape[1] if self.depthwise else 1)
        if out_weights is not None:
            widths = _check_choices("output width", out_widths or (), self.out_channels)
            y = y * width_mask(widths, out_weights, self.out_channels)[None, :, None, None]
        return y

    @torch.no_grad()
    def extract(self, kernel: int, in_channels: int, out_channels: int) -> nn.Conv2d:
        """A stand-alone ``nn.Conv2d`` holding a copy of one config's weights."""
        weight = self.weight_slice(kernel, in_channels, out_channels)
        conv = nn.Conv2d(in_channels, out_channels, kernel, self.stride, kernel // 2,
                         groups=in_channels if self.depthwise else 1, bias=self.bias is not None)
        conv.weight.copy_(weight)
        if self.bias is not None:
            conv.bias.copy_(self.bias[:out_channels])
        return conv.to(self.weight.device)


class EntangledLinear(nn.Module):
    """A linear layer whose in/out features are leading slices of the largest weight."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        reference = nn.Linear(in_features, out_features, bias=bias)  # default init
        self.weight = nn.Parameter(reference.weight.detach().clone())
        self.bias = nn.Parameter(reference.bias.detach().clone()) if bias else None

    def weight_slice(self, in_features: int, out_features: int) -> torch.Tensor:
        """A view of the leading ``out_features x in_features`` block."""
        top_out, top_in = self.weight.shape
        for what, value, top in (("input", in_features, top_in), ("output", out_features, top_out)):
            if not 1 <= value <= top:
                raise SpaceError(f"{what} features {value} outside 1..{top} of this entangled "
                                 f"linear; use at most {top} (or build a wider layer)")
        return self.weight[:out_features, :in_features]

    def forward(self, x: torch.Tensor, out_features: int | None = None) -> torch.Tensor:
        out = self.weight.shape[0] if out_features is None else out_features
        bias = None if self.bias is None else self.bias[:out]
        return F.linear(x, self.weight_slice(x.shape[-1], out), bias)

    def forward_mixture(self, x: torch.Tensor, out_widths: Sequence[int],
                        out_weights: torch.Tensor) -> torch.Tensor:
        """One matmul at full width, output features mixed by a width mask."""
        widths = _check_choices("output features", out_widths, self.weight.shape[0])
        return self(x) * width_mask(widths, out_weights, self.weight.shape[0])

    @torch.no_grad()
    def extract(self, in_features: int, out_features: int) -> nn.Linear:
        layer = nn.Linear(in_features, out_features, bias=self.bias is not None)
        layer.weight.copy_(self.weight_slice(in_features, out_features))
        if self.bias is not None:
            layer.bias.copy_(self.bias[:out_features])
        return layer.to(self.weight.device)


class EntangledBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the leading channels of its input (OFA's dynamic BN).

    The sliced running statistics are views, so a narrow path updates the shared ones.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c > self.num_features:
            raise SpaceError(f"input width {c} is above this BN's {self.num_features} channels; "
                             "build the entangled block with a larger maximum width")
        if c == self.num_features:
            return super().forward(x)
        factor = 0.0  # nn.BatchNorm2d's update rule, on sliced statistics
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None \
                else self.momentum
        use_stats = self.running_mean is not None and (not self.training
                                                       or self.track_running_stats)
        mean = self.running_mean[:c] if use_stats else None
        var = self.running_var[:c] if use_stats else None
        weight = None if self.weight is None else self.weight[:c]
        bias = None if self.bias is None else self.bias[:c]
        use_batch = self.training or self.running_mean is None
        return F.batch_norm(x, mean, var, weight, bias, use_batch, factor, self.eps)

    @torch.no_grad()
    def extract(self, channels: int) -> nn.BatchNorm2d:
        bn = nn.BatchNorm2d(channels, self.eps, self.momentum, self.affine,
                            self.track_running_stats)
        for name in ("weight", "bias", "running_mean", "running_var"):
            source = getattr(self, name)
            if source is not None:
                getattr(bn, name).copy_(source[:channels])
        if self.num_batches_tracked is not None:
            bn.num_batches_tracked.copy_(self.num_batches_tracked)
        return bn.to(self.running_mean.device if self.running_mean is not None else "cpu")


# -- elastic depth ------------------------------------------------------------------------
def elastic_depth(blocks: Sequence[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor,
                  depth: int) -> torch.Tensor:
    """Run the first ``depth`` blocks (a stage with elastic depth)."""
    if not 1 <= depth <= len(blocks):
        raise SpaceError(f"depth {depth} is outside 1..{len(blocks)} blocks of this stage; "
                         f"choose a depth of at most {len(blocks)}")
    for block in blocks[:depth]:
        x = block(x)
    return x


def depth_mixture(blocks: Sequence[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor,
                  depths: Sequence[int], weights: torch.Tensor) -> torch.Tensor:
    """``sum_d p_d * (output after d blocks)``: one pass yields every candidate depth."""
    depths = _check_choices("depth", depths, len(blocks))
    wanted = dict(zip(depths, weights))
    total: torch.Tensor | None = None
    for d, block in enumerate(blocks[:max(depths)], start=1):
        x = block(x)
        if d in wanted:
            total = wanted[d] * x if total is None else total + wanted[d] * x
    assert total is not None  # depths is non-empty
    return total


# -- the sharing mechanism ----------------------------------------------------------------
@dataclass(frozen=True)
class SlicedChoice:
    """A choice that can be a slice of a super-op shared by its ``group``.

    Called, it builds the choice alone (what weight sharing and stand-alone nets use).
    Entanglement instead calls ``super_op(configs)`` once per group with every member's
    ``config``; the super-op has ``forward(x, **config)``,
    ``forward_mixture(x, configs, weights)`` and ``extract(**config)``.
    """

    group: str
    config: Mapping[str, Any]
    standalone: ChoiceFactory
    super_op: Callable[[Sequence[Mapping[str, Any]]], nn.Module] = field(compare=False)

    def __call__(self) -> nn.Module:
        return self.standalone()


class EntangledEdge(nn.Module):
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

    def forward_mixture(self, x: torch.Tensor, weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``sum_c w_c op_c(x)``, each group of slices in one pass.

        A group's members are renormalised to sum to one, mixed at the weight level,
        and the group's output is scaled by their total weight (exact for ops linear
        in their weight up to an eval-mode BN; TangleNAS semantics otherwise).
        """
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
def entangled(choices: Mapping[str, ChoiceFactory]) -> nn.Module:
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


# -- helpers over both mechanisms -------------------------------------------------------------
def choice_module(edge: nn.Module, choice: str) -> nn.Module | None:
    """The module ``choice`` trains on ``edge``, whatever the sharing mechanism."""
    module_for = getattr(edge, "module_for", None)
    if module_for is not None:
        return module_for(choice)
    choices = getattr(edge, "choices", None)
    return choices[choice] if choices is not None and choice in choices else None


def extract_choice(edge: nn.Module, choice: str) -> nn.Module:
    """A stand-alone copy of ``choice``'s module (weights copied out of the supernet)."""
    extract = getattr(edge, "extract", None)
    if extract is not None:
        return extract(choice)
    return copy.deepcopy(edge.choices[choice])


def mixture_forward(edge: nn.Module, x: torch.Tensor, weights: Mapping[str, torch.Tensor],
                    one_pass: bool = True) -> torch.Tensor:
    """``sum_c w_c edge(x, c)``: one pass where the edge entangles its choices, else K passes.

    ``one_pass=False`` forces the DARTS-style K separate forwards (the memory baseline).
    """
    if one_pass and hasattr(edge, "forward_mixture"):
        return edge.forward_mixture(x, weights)
    total: torch.Tensor | None = None
    for choice, w in weights.items():
        out = w * edge(x, choice)
        total = out if total is None else total + out
    return total if total is not None else torch.zeros_like(x)


class MixtureSupernet(Supernet):
    """A supernet that can also run a continuous relaxation of its space (DARTS-style)."""

    @abstractmethod
    def forward_mixture(self, x: torch.Tensor, probs: Mapping[str, torch.Tensor],
                        one_pass: bool = True) -> torch.Tensor:
        """Logits of the mixture: ``probs[label]`` weighs that decision's choices in order.

        ``one_pass=False`` runs each mixed op as K separate forwards (the DARTS baseline).
        """
