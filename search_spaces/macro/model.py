"""Macro skeleton: stem, a fixed first block, four MBConv stages of elastic depth, head.

Widths scale with ``channels`` (C): stem C, stages 1.5C / 2C / 4C / 6C with strides
1 / 2 / 2 / 2 (32x32 CIFAR input -> 4x4), head 1x1 conv to 8C, pooling and a linear
classifier. Every searchable block is an MBConv (expand 1x1 -> depthwise kxk -> project
1x1, residual when shapes allow), built by a sharing mechanism: weight sharing keeps one
MBConv per (kernel, expand); entanglement keeps one :class:`EntangledMBConv`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasengine.errors import SpaceError
from nasengine.supernet.base import Edge, MixtureSupernet
from nasengine.supernet.depth import depth_mixture
from nasengine.supernet.layers import EntangledBatchNorm2d, EntangledConv2d
from nasengine.supernet.masks import marginal, width_mask
from nasengine.supernet.sharing import ChoiceEdge, ChoiceFactory, SlicedChoice

from .space import MacroSpace, block_label, depth_label

STAGE_WIDTHS: tuple[float, ...] = (1.5, 2, 4, 6)
STAGE_STRIDES: tuple[int, ...] = (1, 2, 2, 2)
HEAD_WIDTH = 8

EdgeFor = Callable[[int, int, int, int, int], nn.Module]
"""(stage, block, c_in, c_out, stride) -> edge module with ``forward(x, choice)``."""


def choice_name(kernel: int, expand: int) -> str:
    return f"k{kernel}_e{expand}"


def stage_widths(channels: int) -> list[int]:
    return [max(1, round(channels * m)) for m in STAGE_WIDTHS]


class MBConv(nn.Module):
    """Inverted residual block of one (kernel, expand): the stand-alone op."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expand: int, stride: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand_conv = nn.Conv2d(c_in, hidden, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(hidden)
        self.dw_conv = nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden,
                                 bias=False)
        self.dw_bn = nn.BatchNorm2d(hidden)
        self.project_conv = nn.Conv2d(hidden, c_out, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(c_out)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.expand_bn(self.expand_conv(x)))
        y = F.relu(self.dw_bn(self.dw_conv(y)))
        y = self.project_bn(self.project_conv(y))
        return x + y if self.residual else y


class EntangledMBConv(nn.Module):
    """Every (kernel, expand) MBConv of one block as slices of the largest one.

    Kernels are centre crops of the largest depthwise kernel; an expansion ratio ``e``
    uses the leading ``c_in * e`` hidden channels of all three convs and both hidden BNs.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, kernels: Sequence[int],
                 expands: Sequence[int]) -> None:
        super().__init__()
        self.kernels, self.expands = tuple(sorted(set(kernels))), tuple(sorted(set(expands)))
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        hidden = c_in * max(self.expands)
        self.expand_conv = EntangledConv2d(c_in, hidden, (1,))
        self.expand_bn = EntangledBatchNorm2d(hidden)
        self.dw_conv = EntangledConv2d(hidden, hidden, self.kernels, stride, depthwise=True)
        self.dw_bn = EntangledBatchNorm2d(hidden)
        self.project_conv = EntangledConv2d(hidden, c_out, (1,))
        self.project_bn = nn.BatchNorm2d(c_out)
        self.residual = stride == 1 and c_in == c_out

    @classmethod
    def from_configs(cls, c_in: int, c_out: int, stride: int,
                     configs: Sequence[Mapping[str, int]]) -> EntangledMBConv:
        return cls(c_in, c_out, stride, [c["kernel"] for c in configs],
                   [c["expand"] for c in configs])

    def hidden(self, expand: int) -> int:
        if expand not in self.expands:
            raise SpaceError(f"expansion ratio {expand} is not a choice of this block; "
                             f"choose one of {list(self.expands)}")
        return self.c_in * expand

    def forward(self, x: torch.Tensor, kernel: int, expand: int) -> torch.Tensor:
        """Single path on views of the super-weights."""
        y = F.relu(self.expand_bn(self.expand_conv(x, 1, self.hidden(expand))))
        y = F.relu(self.dw_bn(self.dw_conv(y, kernel)))
        y = self.project_bn(self.project_conv(y, 1, self.c_out))
        return x + y if self.residual else y

    def forward_mixture(self, x: torch.Tensor, configs: Sequence[Mapping[str, int]],
                        weights: torch.Tensor) -> torch.Tensor:
        """One pass: mixed depthwise kernel, hidden channels masked by the mixed width."""
        p_kernel = marginal(configs, weights, "kernel", self.kernels)
        p_expand = marginal(configs, weights, "expand", self.expands)
        y = F.relu(self.expand_bn(self.expand_conv(x)))
        y = F.relu(self.dw_bn(self.dw_conv.forward_mixture(y, p_kernel)))
        widths = [self.hidden(e) for e in self.expands]
        y = y * width_mask(widths, p_expand, y.shape[1])[None, :, None, None]
        y = self.project_bn(self.project_conv(y))
        return x + y if self.residual else y

    @torch.no_grad()
    def extract(self, kernel: int, expand: int) -> MBConv:
        """A stand-alone MBConv holding copies of this config's slices."""
        hidden = self.hidden(expand)
        block = MBConv(self.c_in, self.c_out, kernel, expand, self.stride)
        block.expand_conv = self.expand_conv.extract(1, self.c_in, hidden)
        block.expand_bn = self.expand_bn.extract(hidden)
        block.dw_conv = self.dw_conv.extract(kernel, hidden, hidden)
        block.dw_bn = self.dw_bn.extract(hidden)
        block.project_conv = self.project_conv.extract(1, hidden, self.c_out)
        block.project_bn.load_state_dict(self.project_bn.state_dict())
        return block.to(self.project_bn.running_mean.device)


def block_choices(c_in: int, c_out: int, stride: int, kernels: Sequence[int],
                  expands: Sequence[int]) -> dict[str, ChoiceFactory]:
    """The (kernel, expand) choices of one block, as slices of one ``EntangledMBConv``."""
    return {choice_name(k, e): SlicedChoice(
                group="mbconv", config={"kernel": k, "expand": e},
                standalone=lambda k=k, e=e: MBConv(c_in, c_out, k, e, stride),
                super_op=lambda configs: EntangledMBConv.from_configs(c_in, c_out, stride, configs))
            for k in kernels for e in expands}


class MacroNetwork(nn.Module):
    """The skeleton; stage ``s`` holds ``blocks[s]`` edges and runs the arch's depth of them."""

    def __init__(self, channels: int, num_classes: int, blocks: Sequence[int],
                 edge_for: EdgeFor) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
                                  nn.ReLU(inplace=True))
        self.first = MBConv(c, c, 3, 1, 1)
        stages, c_in = [], c
        for s, (width, stride, n) in enumerate(zip(stage_widths(c), STAGE_STRIDES, blocks)):
            stages.append(nn.ModuleList(edge_for(s, b, c_in if b == 0 else width, width,
                                                 stride if b == 0 else 1) for b in range(n)))
            c_in = width
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(nn.Conv2d(c_in, HEAD_WIDTH * c, 1, bias=False),
                                  nn.BatchNorm2d(HEAD_WIDTH * c), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(HEAD_WIDTH * c, num_classes)

    def forward(self, x: torch.Tensor, arch: Mapping[str, Any]) -> torch.Tensor:
        x = self.first(self.stem(x))
        for s, stage in enumerate(self.stages):
            for b in range(arch[depth_label(s)]):
                x = stage[b](x, _block_choice(arch, s, b))
        return self.classifier(self.head(x))

    def forward_mixture(self, x: torch.Tensor, space: MacroSpace,
                        probs: Mapping[str, torch.Tensor], one_pass: bool) -> torch.Tensor:
        x = self.first(self.stem(x))
        for s, stage in enumerate(self.stages):
            blocks = [_mixed_block(edge, _joint(space, probs, s, b), one_pass)
                      for b, edge in enumerate(stage)]
            x = depth_mixture(blocks, x, space.depths, probs[depth_label(s)])
        return self.classifier(self.head(x))


def _block_choice(arch: Mapping[str, Any], stage: int, block: int) -> str:
    return choice_name(arch[block_label(stage, block, "kernel")],
                       arch[block_label(stage, block, "expand")])


def _joint(space: MacroSpace, probs: Mapping[str, torch.Tensor], stage: int, block: int
           ) -> dict[str, torch.Tensor]:
    """Weights of each (kernel, expand) of one block: the product of the two decisions'."""
    p_k = probs[block_label(stage, block, "kernel")]
    p_e = probs[block_label(stage, block, "expand")]
    return {choice_name(k, e): p_k[i] * p_e[j] for i, k in enumerate(space.kernels)
            for j, e in enumerate(space.expands)}


def _mixed_block(edge: Edge, weights: dict[str, torch.Tensor], one_pass: bool
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: edge.forward_mixture(x, weights, one_pass)


class MacroSupernet(MixtureSupernet):
    """Single-path and mixture supernet over :class:`MacroSpace`.

    ``choice_modules`` keeps the default (none): kernel, expand and depth values repeat
    across decisions (3 is a kernel and an expansion), and under entanglement every
    choice of a block trains the same super-op, so per-value modules would mislead
    gradient-based path samplers (PA&DA then samples paths uniformly).
    """

    def __init__(self, space: MacroSpace,
                 sharing: Callable[[Mapping[str, ChoiceFactory]], nn.Module],
                 channels: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        self.space = space
        self.config = {"channels": channels, "num_classes": num_classes}
        self.network = MacroNetwork(
            channels, num_classes, [space.max_depth] * space.stages,
            edge_for=lambda _s, _b, c_in, c_out, stride: sharing(
                block_choices(c_in, c_out, stride, space.kernels, space.expands)))

    def forward(self, x: torch.Tensor, arch: Mapping[str, Any]) -> torch.Tensor:
        return self.network(x, arch)

    def forward_mixture(self, x: torch.Tensor, probs: Mapping[str, torch.Tensor],
                        one_pass: bool = True) -> torch.Tensor:
        for label, dec in self.space.decisions.items():
            if label not in probs or probs[label].shape != (len(dec.values),):
                got = "nothing" if label not in probs else f"shape {tuple(probs[label].shape)}"
                raise SpaceError(f"mixture weights for decision {label!r} must be a vector of "
                                 f"{len(dec.values)} (one per choice {list(dec.values)}), got "
                                 f"{got}; give one weight vector per decision of the space")
        return self.network.forward_mixture(x, self.space, probs, one_pass)

    def canonical(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """Blocks past a stage's depth never run: their decisions are set to defaults."""
        return self.space.canonical(arch)

    @torch.no_grad()
    def extract(self, arch: Mapping[str, Any]) -> MacroStandalone:
        """The stand-alone network of ``arch`` with its weights copied out of the supernet."""
        arch = self.space.validate(arch)
        net = MacroStandalone(arch, self.space, **self.config)
        shared = {k: v for k, v in self.network.state_dict().items() if not k.startswith("stages.")}
        net.network.load_state_dict(shared, strict=False)
        for s, stage in enumerate(net.network.stages):
            for b, edge in enumerate(stage):
                name = _block_choice(arch, s, b)
                edge.choices[name] = self.network.stages[s][b].extract(name)
        return net.to(next(self.parameters()).device)


class MacroStandalone(nn.Module):
    """The network of one arch: only its active blocks, each a plain MBConv."""

    def __init__(self, arch: Mapping[str, Any], space: MacroSpace | None = None,
                 channels: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        space = space or MacroSpace()
        self.arch = space.validate(arch)
        active = space.active_blocks(self.arch)
        self.network = MacroNetwork(
            channels, num_classes, [len(blocks) for blocks in active],
            edge_for=lambda s, b, c_in, c_out, stride: _fixed_block(c_in, c_out, stride,
                                                                   *active[s][b]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x, self.arch)


def _fixed_block(c_in: int, c_out: int, stride: int, kernel: int, expand: int) -> ChoiceEdge:
    return ChoiceEdge({choice_name(kernel, expand):
                       lambda: MBConv(c_in, c_out, kernel, expand, stride)})
