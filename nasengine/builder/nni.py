"""NNI 3 model spaces train as they are: an ``nni.nas.nn.pytorch.ModelSpace`` becomes a family.

Its mutable layers are swapped, in place, for the builder's (same labels, same values), so
the user's ``forward`` runs unchanged on a nasengine supernet; stand-alone nets are NNI's
own ``freeze(arch)``. Supported: ``LayerChoice``; ``MutableConv2d`` (choice channels and odd
kernel size with "same" padding, groups 1 or depthwise), ``MutableLinear`` and
``MutableBatchNorm2d`` with choice widths; ``Repeat`` with a depth choice; ``nni.choice``
values and expressions of them (e.g. ``k // 2``). Anything else that holds a mutable
(``InputChoice``, ``Cell``, other mutable layers) is refused by name.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from torch import nn

from ..errors import SpaceError
from .context import Build, building
from .family import BuilderFamily
from .layers import BatchNorm2d, Conv2d, LayerChoice, Linear, Repeat
from .values import Choice, Derived, resolve

SUPPORTED = ("LayerChoice", "MutableConv2d", "MutableLinear", "MutableBatchNorm2d", "Repeat")


def is_nni_space(obj: Any) -> bool:
    """Whether ``obj`` is an NNI ``ModelSpace`` class (checked without importing NNI's NAS)."""
    return isinstance(obj, type) and any(c.__name__ == "ModelSpace" and
                                         c.__module__.startswith("nni.nas") for c in obj.__mro__)


class NNIFamily(BuilderFamily):
    """The family of an NNI ``ModelSpace`` class (its keyword arguments are the run options)."""

    def options(self) -> set[str] | None:
        """The keyword arguments of the user's ``__init__`` (NNI wraps it in ``*args, **kwargs``)."""
        init = _user_init(self.factory.__dict__.get("__init__"), self.factory.__qualname__)
        if init is None:
            return None
        params = list(inspect.signature(init).parameters.values())[1:]
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params}

    def _build(self, build: Build, config: Mapping[str, Any]) -> tuple[nn.Module, Any]:
        if build.arch is not None:
            return self.factory(**config).freeze(dict(build.arch)), self.space(**config)
        model = self.factory(**config)
        labels = list(model.simplify())
        with building(build):
            _Converter().children(model)
        missing = [label for label in labels if label not in build.choices]
        if missing:
            raise SpaceError(f"{self.name}: NNI decisions {missing} are used by nothing the "
                             f"adapter converts; supported: {', '.join(SUPPORTED)}")
        return super()._build(build, config, model=model)


class _Converter:
    """Swaps NNI mutable layers for builder layers; one :class:`Choice` per NNI label."""

    def __init__(self) -> None:
        self.choices: dict[str, Choice] = {}

    def children(self, module: nn.Module) -> None:
        for name, child in list(module.named_children()):
            setattr(module, name, self.module(child, name))

    def module(self, module: nn.Module, where: str) -> nn.Module:
        kind = type(module).__name__
        if kind == "LayerChoice":
            return LayerChoice({name: self.module(module[name], f"{where}.{name}")
                                for name in module.names}, label=str(module.label))
        if kind == "Repeat":
            depth = module.depth_choice
            blocks = [self.module(b, f"{where}.{i}") for i, b in enumerate(module.blocks)]
            return Repeat(lambda i: blocks[i], self.value(depth, where))
        if kind in ("MutableConv2d", "MutableLinear", "MutableBatchNorm2d"):
            return self.layer(kind, module.args, where)
        if type(module).__module__.startswith("nni.") and hasattr(module, "simplify") \
                and module.simplify():
            raise SpaceError(f"NNI {kind} at {where!r} is not supported by the nasengine "
                             f"adapter; supported: {', '.join(SUPPORTED)} with nni.choice values")
        self.children(module)
        return module

    def layer(self, kind: str, args: Mapping[str, Any], where: str) -> nn.Module:
        v = {k: self.value(a, where) for k, a in args.items()}
        if kind == "MutableLinear":
            return Linear(v["in_features"], v["out_features"], v.get("bias", True))
        if kind == "MutableBatchNorm2d":
            return BatchNorm2d(v["num_features"])
        groups, kernel = v.get("groups", 1), v["kernel_size"]
        depthwise = groups not in (1, None)
        _check_conv(v, where, depthwise)
        return Conv2d(v["in_channels"], v["out_channels"], kernel, v.get("stride", 1),
                      depthwise=depthwise, bias=v.get("bias", True))

    def value(self, value: Any, where: str) -> Any:
        """An NNI Categorical -> Choice; an expression of them -> Derived; else as is."""
        from nni.mutable import Categorical, MutableExpression

        if isinstance(value, Categorical):  # plain str/values: NNI's label type must not
            label = str(value.label)         # reach checkpoints (they load weights_only)
            if label not in self.choices:
                self.choices[label] = Choice(label, [_plain(v) for v in value.values])
            return self.choices[label]
        if isinstance(value, MutableExpression):
            leaves = list(value.leaf_mutables(lambda m: True))
            if not all(isinstance(leaf, Categorical) for leaf in leaves):
                raise SpaceError(f"{where}: only nni.choice values (and expressions of them) "
                                 f"are supported, got {value!r}")
            labels = [str(leaf.label) for leaf in leaves]
            return Derived(_expression(value, labels), *(self.value(x, where) for x in leaves))
        if hasattr(value, "simplify") and type(value).__module__.startswith("nni."):
            raise SpaceError(f"{where}: NNI {type(value).__name__} values are not supported; "
                             "use nni.choice")
        return value


def _user_init(fn: Any, owner: str, depth: int = 0) -> Callable[..., Any] | None:
    """The ``owner.__init__`` function inside NNI's init wrappers (found in their closures)."""
    if fn is None or depth > 4:
        return None
    if getattr(fn, "__qualname__", "") == f"{owner}.__init__":
        return fn
    for cell in getattr(fn, "__closure__", None) or ():
        found = _user_init(cell.cell_contents, owner, depth + 1) if callable(
            cell.cell_contents) else None
        if found is not None:
            return found
    return None


def _plain(value: Any) -> Any:
    """A builtin value (NNI may hand numpy scalars or str subclasses)."""
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _expression(expr: Any, labels: list[str]) -> Callable[..., Any]:
    return lambda *values: expr.freeze(dict(zip(labels, values)))


def _check_conv(v: Mapping[str, Any], where: str, depthwise: bool) -> None:
    """The builder's conv is "same"-padded, undilated, zero-padded, groups 1 or depthwise."""
    from .values import combinations

    for arch in combinations(v.values()):
        cfg = {k: resolve(x, arch) for k, x in v.items()}
        k = cfg["kernel_size"]
        problems = [name for name, ok in (
            ("padding", cfg.get("padding", 0) in (k // 2, (k // 2, k // 2))),
            ("dilation", cfg.get("dilation", 1) in (1, (1, 1))),
            ("padding_mode", cfg.get("padding_mode", "zeros") == "zeros"),
            ("groups", not depthwise or cfg["groups"] == cfg["in_channels"] == cfg["out_channels"]),
        ) if not ok]
        if problems:
            raise SpaceError(f"NNI MutableConv2d at {where!r}: unsupported {problems} for {cfg}; "
                             "the adapter supports 'same' padding (kernel // 2), dilation 1, "
                             "zero padding and groups 1 or depthwise")
