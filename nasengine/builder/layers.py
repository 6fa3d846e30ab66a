"""Builder layers: plain-PyTorch look-alikes whose arguments may be choices.

Each layer builds itself for the construction in progress (:mod:`.context`): in a
supernet, its choices become one edge of the sharing mechanism (weight sharing: one
module per config; entanglement: one largest weight, every config a slice); in a fixed
arch it *is* the plain ``nn`` module of that arch. :meth:`Mutable.trace` tells the engine
which choices a forward reads and which modules each choice trains.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from ..errors import SpaceError
from ..supernet.layers import EntangledBatchNorm2d, EntangledConv2d, EntangledLinear
from ..supernet.sharing import SlicedChoice
from .context import checking, current_arch, current_build
from .values import Choice, choices_of, combinations, possible, resolve


@dataclass
class Path:
    """What one arch uses: decisions read, (label, value, module) trained, parameters."""

    reads: set[str] = field(default_factory=set)
    trained: list[tuple[str, Any, nn.Module]] = field(default_factory=list)
    params: int = 0
    count: bool = False  # count parameters (copies out entangled slices: slower)


def trace(module: nn.Module, arch: Mapping[str, Any], path: Path) -> Path:
    """Walk what ``arch`` runs of ``module`` (builder layers decide what runs inside them)."""
    if isinstance(module, Mutable):
        module.trace(arch, path)
        return path
    path.params += sum(p.numel() for p in module._parameters.values() if p is not None)
    for child in module.children():
        trace(child, arch, path)
    return path


@torch.no_grad()
def copy_into(module: nn.Module, target: nn.Module, arch: Mapping[str, Any]) -> None:
    """Copy the weights ``arch`` uses in the supernet ``module`` into its fixed build ``target``."""
    if isinstance(module, Mutable):
        module.copy_into(target, arch)
        return
    for name, tensor in [*module._parameters.items(), *module._buffers.items()]:
        if tensor is not None:
            getattr(target, name).copy_(tensor)
    for name, child in module.named_children():
        copy_into(child, getattr(target, name), arch)


class Mutable(nn.Module):
    """A layer with choices; in a fixed build, construction returns the plain module instead."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        build = current_build()
        if build.arch is not None and (args or kwargs):
            return cls.fixed(build.arch, *args, **kwargs)
        return super().__new__(cls)

    @classmethod
    def fixed(cls, arch: Mapping[str, Any], *args: Any, **kwargs: Any) -> nn.Module:
        """The plain module this layer is under ``arch``."""
        raise NotImplementedError

    def trace(self, arch: Mapping[str, Any], path: Path) -> None:
        raise NotImplementedError

    def copy_into(self, target: nn.Module, arch: Mapping[str, Any]) -> None:
        raise NotImplementedError


class _Sliced(Mutable):
    """A layer whose hyper-parameters may be choices; each distinct config is one choice."""

    plain: Callable[..., nn.Module]
    super_op: Callable[[Sequence[Mapping[str, Any]]], nn.Module]

    def __init__(self, **params: Any) -> None:
        super().__init__()
        build = current_build()
        build.use(*params.values())
        self.params = params
        configs: dict[str, dict[str, Any]] = {}
        for arch in combinations(params.values()):
            config = {k: resolve(v, arch) for k, v in params.items()}
            configs.setdefault(_name(config), config)
        self.single = len(configs) == 1
        if self.single:
            self.edge = type(self).plain(**next(iter(configs.values())))
            return
        group = type(self).__name__
        self.edge = build.sharing({name: SlicedChoice(group, config, _bind(type(self).plain, config),
                                                      type(self).super_op)
                                   for name, config in configs.items()})

    def config_name(self, arch: Mapping[str, Any]) -> str:
        return _name({k: resolve(v, arch) for k, v in self.params.items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.edge(x) if self.single else self.edge(x, self.config_name(current_arch()))

    @classmethod
    def fixed(cls, arch: Mapping[str, Any], *args: Any, **kwargs: Any) -> nn.Module:
        params = cls.arguments(*args, **kwargs)
        return cls.plain(**{k: resolve(v, arch) for k, v in params.items()})

    def trace(self, arch: Mapping[str, Any], path: Path) -> None:
        if self.single:
            path.params += sum(p.numel() for p in self.edge.parameters())
            return
        name = self.config_name(arch)
        module = self.edge.module_for(name)
        for choice in choices_of(*self.params.values()):
            path.reads.add(choice.label)
            path.trained.append((choice.label, arch[choice.label], module))
        if path.count:
            path.params += sum(p.numel() for p in self.edge.extract(name).parameters())

    def copy_into(self, target: nn.Module, arch: Mapping[str, Any]) -> None:
        source = self.edge if self.single else self.edge.extract(self.config_name(arch))
        target.load_state_dict(source.state_dict())


def _name(config: Mapping[str, Any]) -> str:
    """A module key for a config (no dots: ``nn.ModuleDict`` keys)."""
    return "_".join(f"{k}{v}" for k, v in config.items()).replace(".", "p").replace("-", "m")


def _bind(plain: Callable[..., nn.Module], config: Mapping[str, Any]) -> Callable[[], nn.Module]:
    return lambda: plain(**config)


def _check_input(what: str, got: int, expected: int) -> None:
    if got != expected:
        raise SpaceError(f"this {what} expects {expected} input channels/features for the arch, "
                         f"got {got}; make its input width the previous layer's output width")


class _SuperConv2d(EntangledConv2d):
    """Every config of one :class:`Conv2d` as slices of the largest kernel and widths."""

    @classmethod
    def from_configs(cls, configs: Sequence[Mapping[str, Any]]) -> _SuperConv2d:
        first = configs[0]
        return cls(max(c["in_channels"] for c in configs), max(c["out_channels"] for c in configs),
                   sorted({c["kernel_size"] for c in configs}), first["stride"],
                   depthwise=first["depthwise"], bias=first["bias"])

    def forward(self, x: torch.Tensor, in_channels: int, out_channels: int, kernel_size: int,
                **_fixed: Any) -> torch.Tensor:
        _check_input("conv", x.shape[1], in_channels)
        return super().forward(x, kernel_size, out_channels)

    def extract(self, in_channels: int, out_channels: int, kernel_size: int,  # type: ignore[override]
                **_fixed: Any) -> nn.Conv2d:
        return super().extract(kernel_size, in_channels, out_channels)


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int, depthwise: bool,
          bias: bool) -> nn.Conv2d:
    if depthwise and in_channels != out_channels:
        raise SpaceError(f"a depthwise conv keeps its width, got {in_channels} -> {out_channels}")
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                     groups=in_channels if depthwise else 1, bias=bias)


class Conv2d(_Sliced):
    """``nn.Conv2d`` with "same" padding whose widths and (odd) kernel size may be choices."""

    plain = staticmethod(_conv)
    super_op = staticmethod(_SuperConv2d.from_configs)

    def __init__(self, in_channels: Any, out_channels: Any, kernel_size: Any = 3, stride: int = 1,
                 *, depthwise: bool = False, bias: bool = False) -> None:
        super().__init__(**self.arguments(in_channels, out_channels, kernel_size, stride,
                                          depthwise=depthwise, bias=bias))

    @staticmethod
    def arguments(in_channels: Any, out_channels: Any, kernel_size: Any = 3, stride: int = 1, *,
                  depthwise: bool = False, bias: bool = False) -> dict[str, Any]:
        return {"in_channels": in_channels, "out_channels": out_channels,
                "kernel_size": kernel_size, "stride": stride, "depthwise": depthwise, "bias": bias}


class _SuperLinear(EntangledLinear):
    @classmethod
    def from_configs(cls, configs: Sequence[Mapping[str, Any]]) -> _SuperLinear:
        return cls(max(c["in_features"] for c in configs), max(c["out_features"] for c in configs),
                   configs[0]["bias"])

    def forward(self, x: torch.Tensor, in_features: int, out_features: int,
                **_fixed: Any) -> torch.Tensor:
        _check_input("linear layer", x.shape[-1], in_features)
        return super().forward(x, out_features)

    def extract(self, in_features: int, out_features: int, **_fixed: Any) -> nn.Linear:  # type: ignore[override]
        return super().extract(in_features, out_features)


class Linear(_Sliced):
    """``nn.Linear`` whose in/out features may be choices (leading slices when entangled)."""

    plain = staticmethod(lambda in_features, out_features, bias: nn.Linear(in_features, out_features,
                                                                           bias))
    super_op = staticmethod(_SuperLinear.from_configs)

    def __init__(self, in_features: Any, out_features: Any, bias: bool = True) -> None:
        super().__init__(**self.arguments(in_features, out_features, bias))

    @staticmethod
    def arguments(in_features: Any, out_features: Any, bias: bool = True) -> dict[str, Any]:
        return {"in_features": in_features, "out_features": out_features, "bias": bias}


class _SuperBatchNorm2d(EntangledBatchNorm2d):
    @classmethod
    def from_configs(cls, configs: Sequence[Mapping[str, Any]]) -> _SuperBatchNorm2d:
        return cls(max(c["num_features"] for c in configs))

    def forward(self, x: torch.Tensor, num_features: int) -> torch.Tensor:  # type: ignore[override]
        _check_input("batch norm", x.shape[1], num_features)
        return super().forward(x)

    def extract(self, num_features: int) -> nn.BatchNorm2d:  # type: ignore[override]
        return super().extract(num_features)


class BatchNorm2d(_Sliced):
    """``nn.BatchNorm2d`` whose width may be a choice (leading channels when entangled)."""

    plain = staticmethod(lambda num_features: nn.BatchNorm2d(num_features))
    super_op = staticmethod(_SuperBatchNorm2d.from_configs)

    def __init__(self, num_features: Any) -> None:
        super().__init__(**self.arguments(num_features))

    @staticmethod
    def arguments(num_features: Any) -> dict[str, Any]:
        return {"num_features": num_features}


class LayerChoice(Mutable):
    """One of several modules, picked by decision ``label`` (keys of a dict, or 0..n-1)."""

    def __init__(self, candidates: Mapping[str, nn.Module] | Sequence[nn.Module],
                 label: str) -> None:
        super().__init__()
        values, modules = _candidates(candidates, label)
        self.choice = Choice(label, values)
        build = current_build()
        build.use(self.choice)
        self.edge = build.sharing({str(v): _bind(lambda m: m, {"m": m})
                                   for v, m in zip(values, modules)})

    @classmethod
    def fixed(cls, arch: Mapping[str, Any], candidates: Any, label: str) -> nn.Module:
        values, modules = _candidates(candidates, label)
        return modules[Choice(label, values).decision.index(resolve_label(arch, label))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = self.choice.resolve(current_arch())
        if checking():
            outputs = {v: self.edge(x, str(v)) for v in self.choice.values}
            shapes = {v: tuple(y.shape) for v, y in outputs.items()}
            if len(set(shapes.values())) > 1:
                raise SpaceError(f"the candidates of layer choice {self.choice.label!r} disagree "
                                 f"on their output shape: {shapes}; every candidate must map the "
                                 "same input to the same shape")
            return outputs[value]
        return self.edge(x, str(value))

    def trace(self, arch: Mapping[str, Any], path: Path) -> None:
        value = self.choice.resolve(arch)
        module = self.edge.module_for(str(value))
        path.reads.add(self.choice.label)
        if module is not None:
            path.trained.append((self.choice.label, value, module))
            trace(module, arch, path)

    def copy_into(self, target: nn.Module, arch: Mapping[str, Any]) -> None:
        chosen = self.edge.module_for(str(self.choice.resolve(arch)))
        if chosen is not None:
            copy_into(chosen, target, arch)


def _candidates(candidates: Any, label: str) -> tuple[tuple[Any, ...], list[nn.Module]]:
    if isinstance(candidates, Mapping):
        return tuple(candidates), list(candidates.values())
    modules = list(candidates)
    if not modules:
        raise SpaceError(f"layer choice {label!r} has no candidates; give at least one module")
    return tuple(range(len(modules))), modules


def resolve_label(arch: Mapping[str, Any], label: str) -> Any:
    if label not in arch:
        raise SpaceError(f"the arch has no decision {label!r}")
    return arch[label]


class Repeat(Mutable):
    """``block(i)`` for i < depth, run in order; depth may be a choice (shared by prefix).

    The supernet holds the deepest stack; a shallower arch runs its first blocks.
    """

    def __init__(self, block: Callable[[int], nn.Module], depth: Any) -> None:
        super().__init__()
        depths = _depths(depth)
        current_build().use(depth)
        self.depth, self.min_depth = depth, min(depths)
        self.blocks = nn.ModuleList(block(i) for i in range(max(depths)))

    @classmethod
    def fixed(cls, arch: Mapping[str, Any], block: Callable[[int], nn.Module],
              depth: Any) -> nn.Module:
        _depths(depth)
        return nn.Sequential(*(block(i) for i in range(resolve(depth, arch))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks[:resolve(self.depth, current_arch())]:
            x = block(x)
        return x

    def trace(self, arch: Mapping[str, Any], path: Path) -> None:
        depth = resolve(self.depth, arch)
        for choice in choices_of(self.depth):
            path.reads.add(choice.label)
            path.trained += [(choice.label, arch[choice.label], b)
                             for b in self.blocks[self.min_depth:depth]]
        for block in self.blocks[:depth]:
            trace(block, arch, path)

    def copy_into(self, target: nn.Module, arch: Mapping[str, Any]) -> None:
        for block, fixed in zip(self.blocks, target):
            copy_into(block, fixed, arch)


def _depths(depth: Any) -> list[int]:
    depths = possible(depth)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in depths):
        raise SpaceError(f"repeat depths must be integers >= 1, got {depths}")
    return depths
