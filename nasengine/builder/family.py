"""A plain ``nn.Module`` class with builder choices, as a search-space family.

From the class alone the engine derives the space (the choices, in order of use), the
supernet under any sharing mechanism, the stand-alone network of any arch (the class
built for that arch: plain PyTorch modules), its params/FLOPs, ``choice_modules`` and
the canonical form of an arch (decisions that a forward does not read are inert).
"""
from __future__ import annotations

import functools
import inspect
import re
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..errors import NasEngineError, SpaceError
from ..space import Categorical, Sample, SearchSpace
from ..families import SpaceFamily
from ..supernet.base import Supernet
from .context import Build, building, running
from .layers import Path, copy_into, trace


class BuiltSupernet(Supernet):
    """The user's module built with every choice; ``forward(x, arch)`` runs one subnet."""

    def __init__(self, model: nn.Module, space: SearchSpace,
                 standalone: Callable[[Sample], nn.Module]) -> None:
        super().__init__()
        self.model, self.space, self._standalone = model, space, standalone

    @torch.no_grad()
    def extract(self, arch: Mapping[str, Any]) -> nn.Module:
        """The stand-alone network of ``arch`` holding copies of the weights it uses here."""
        arch = self.space.validate(arch)
        net = self._standalone(arch)
        copy_into(self.model, net, arch)
        return net.to(next(self.parameters()).device)

    def forward(self, x: torch.Tensor, arch: Mapping[str, Any]) -> torch.Tensor:
        with running(arch):
            return self.model(x)

    def path(self, arch: Mapping[str, Any], count: bool = False) -> Path:
        """Decisions read, modules trained and (``count``) parameter count of ``arch``'s subnet."""
        return trace(self.model, self.space.validate(arch), Path(count=count))

    def choice_modules(self, arch: Sample) -> dict[Any, list[nn.Module]]:
        pooled: dict[Any, list[nn.Module]] = {}
        for _label, value, module in self.path(arch).trained:
            group = pooled.setdefault(value, [])
            if all(m is not module for m in group):
                group.append(module)
        return pooled

    def canonical(self, arch: Mapping[str, Any]) -> Sample:
        """Decisions the subnet never reads (e.g. in blocks past a depth) set to their first value."""
        sample, reads = self.space.validate(arch), self.path(arch).reads
        return {k: (v if k in reads else self.space.decisions[k].values[0])
                for k, v in sample.items()}


class BuilderFamily(SpaceFamily):
    """The family of ``factory`` (an ``nn.Module`` class using builder choices).

    Run options (``channels``, ``num_classes``...) are the factory's keyword arguments;
    ``factory.input_shape`` (default ``(1, 3, 32, 32)``) is what FLOPs and checks run on.
    """

    def __init__(self, factory: Callable[..., nn.Module], name: str | None = None) -> None:
        self.factory = factory
        self._spaces: dict[tuple, SearchSpace] = {}
        self.name = name or getattr(factory, "space_name", None) or factory.__name__.lower()

    def options(self) -> set[str] | None:
        params = list(inspect.signature(self.factory).parameters.values())
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return {p.name for p in params}

    def space(self, **config: Any) -> SearchSpace:
        """The space at the run options ``config`` (choice values may depend on them)."""
        key = tuple(sorted(config.items()))
        if key not in self._spaces:
            self.check_options(config)
            self._spaces[key] = self._build(Build(sharing=_weight_sharing()), config)[1]
        return self._spaces[key]

    def supernet(self, sharing: Any, space: SearchSpace | None = None,
                 **config: Any) -> BuiltSupernet:
        self.check_options(config)
        model, derived = self._build(Build(sharing=sharing), config)
        net = BuiltSupernet(model, space or derived,
                            functools.partial(self.standalone, **config))
        self._dummy_forward(net, config)
        return net

    def standalone(self, arch: Sample, **config: Any) -> nn.Module:
        self.check_options(config)
        return self._build(Build(arch=self.space(**config).validate(arch)), config)[0]

    def input_shape(self, **config: Any) -> tuple[int, ...]:
        shape = getattr(self.factory, "input_shape", (1, 3, 32, 32))
        return tuple(shape(**config) if callable(shape) else shape)

    def _build(self, build: Build, config: Mapping[str, Any],
               model: nn.Module | None = None) -> tuple[nn.Module, SearchSpace]:
        """The factory's module under ``build``, and the space of the choices it used."""
        if model is None:
            with building(build):
                model = self.factory(**config)
        if build.arch is not None:  # a fixed network: the space is the family's
            return model, self.space(**config)
        if not build.choices:
            raise SpaceError(f"{self.name}: the module declares no decisions; use "
                             "nasengine.builder layers (Choice, LayerChoice, Conv2d, Linear, "
                             "BatchNorm2d, Repeat) with at least one Choice")
        space = SearchSpace([Categorical(c.label, c.values) for c in build.choices.values()])
        space.name = self.name
        return model, space

    @torch.no_grad()
    def _dummy_forward(self, net: BuiltSupernet, config: Mapping[str, Any]) -> None:
        """Run the smallest and largest archs once, comparing every layer choice's candidates;
        a failure names the innermost layer that was running."""
        space, x = net.space, torch.zeros((2, *self.input_shape(**config)[1:]))
        running_now: list[str] = []
        hooks = [h for name, m in net.model.named_modules() for h in (
            m.register_forward_pre_hook(lambda *_, name=name: running_now.append(name)),
            m.register_forward_hook(lambda *_: running_now.pop() and None))]
        was_training = net.training
        net.eval()
        try:
            for pick in (0, -1):
                arch = {k: d.values[pick] for k, d in space.decisions.items()}
                with running(arch, checking=True):
                    try:
                        net.model(x)
                    except NasEngineError:
                        raise
                    except Exception as exc:
                        layer = _user_name(running_now[-1] if running_now else "?")
                        raise SpaceError(f"{self.name}: a dummy forward of {tuple(x.shape)} "
                                         f"inputs at arch {arch} failed in layer {layer!r} "
                                         f"({type(exc).__name__}: {exc}); make every choice "
                                         "produce shapes the next layer accepts") from exc
        finally:
            net.train(was_training)
            for hook in hooks:
                hook.remove()


def _user_name(name: str) -> str:
    """A module's name as the user wrote it: a layer choice's candidate as ``layer[choice]``,
    without the builder's internal ``edge`` modules."""
    name = re.sub(r"\.edge\.choices\.([^.]+)", r"[\1]", name)
    return re.sub(r"\.edge(\..*)?$", "", name)


def _weight_sharing() -> Any:
    from ..supernet.sharing import SHARING

    return SHARING.get("weight_sharing")
