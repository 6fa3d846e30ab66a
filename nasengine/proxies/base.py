"""Training-free proxies: the role, its registry, and the shared passes they read.

A proxy scores an arch from its stand-alone network at a seeded initialisation on one
fixed minibatch, with no training (Abdelfattah et al., ICLR 2021; Mellor et al., ICML
2021; Lee & Ham, CVPR 2024). Most of them read the same few passes of the same network
(one forward, the loss gradient, the input Jacobian), so a :class:`Probe` computes each
pass once, lazily, and every proxy asks it for what it needs.

Two kinds share one registry, :data:`PROXIES`:

* :class:`ArchProxy` scores one arch alone (``score(probe)``);
* a set-level proxy (the ensemble) combines per-arch columns over a set of archs, since
  a rank only exists relative to others (``combine(columns)``).

A score of ``-inf`` means "worst possible": the paper's code returns NaN there (a
network whose output ignores its input has no defined Jacobian correlation).
"""
from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from functools import cached_property
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry

Batch = tuple[torch.Tensor, torch.Tensor]


class Proxy(ABC):
    """A training-free score of archs; higher means predicted better."""

    name: str = "proxy"
    #: per-arch proxies this one reads (itself for an :class:`ArchProxy`)
    members: tuple[str, ...] = ()

    @abstractmethod
    def combine(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Scores of a set of archs from the per-arch ``columns`` of its ``members``."""

    @abstractmethod
    def against(self, values: Mapping[str, float], reference: Mapping[str, np.ndarray]) -> float:
        """The score of one arch (its members' ``values``) relative to a fixed set of
        archs (``reference``: each member's sorted values over the set), for searches."""


class ArchProxy(Proxy):
    """A proxy of one arch's network; ``function_only`` proxies may be shared by archs
    whose networks compute the same function from the same weights (see
    :meth:`nasengine.families.SpaceFamily.canonical`): dead parts add exactly 0 to them."""

    function_only: bool = True
    #: bumped when the computation changes the proxy's values (even in the last bits), so
    #: that cached values of the old computation are never mixed with new ones
    version: int = 1

    def __init__(self) -> None:
        self.members = (self.name,)

    @property
    def cache_key(self) -> str:
        """The proxy's column in cached tables: its name, with ``@v<version>`` after 1."""
        return self.name if self.version == 1 else f"{self.name}@v{self.version}"

    @abstractmethod
    def score(self, probe: Probe) -> float:
        """The proxy of the probe's network."""

    def combine(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.asarray(columns[self.name], dtype=np.float64)

    def against(self, values: Mapping[str, float], reference: Mapping[str, np.ndarray]) -> float:
        return values[self.name]  # a per-arch score needs no reference


PROXIES: Registry[Proxy] = Registry("proxy")


def seeded_init(net: nn.Module, seed: int) -> nn.Module:
    """Re-initialise every module from a seed of (``seed``, its name), with its own default
    init. A module's weights then do not depend on which other modules exist, so two archs
    share the weights of every module they share, and a dead part changes nothing else."""
    with torch.random.fork_rng(devices=[]):
        for name, module in net.named_modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset) and any(True for _ in module.parameters(recurse=False)):
                torch.manual_seed(zlib.crc32(f"{seed}:{name}".encode()))
                reset()
    return net


def seeded_generator(seed: int | None, purpose: str) -> torch.Generator:
    """A CPU generator seeded by (seed, purpose): random probes of one seed, independent
    of each other."""
    return torch.Generator().manual_seed(zlib.crc32(f"{seed}:{purpose}".encode()))


def weighted_layers(net: nn.Module) -> list[nn.Module]:
    """Conv and linear layers: the weights the gradient proxies sum over, as in the papers'
    code (BN and biases are left out)."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def feature_blocks(net: nn.Module) -> list[nn.Module]:
    """The blocks whose outputs are a network's successive feature maps: the items of its
    ``nn.ModuleList``s (NB201's cells and reductions, the macro space's MBConvs)."""
    return [m for lst in net.modules() if isinstance(lst, nn.ModuleList) for m in lst
            if not isinstance(m, nn.ModuleList)]


class Probe:
    """One arch's network at a seeded init and one batch; each pass runs once, on demand.

    The forward runs in train mode (BN on batch statistics), as the papers' code does.
    Every backward uses ``torch.autograd.grad`` on the one retained graph, so passes do
    not mix gradients whatever order proxies ask in.
    """

    def __init__(self, build: Callable[[], nn.Module], batch: Batch, seed: int | None,
                 input_shape: Sequence[int], channels_last: bool = True) -> None:
        """``seed`` None keeps the weights ``build`` made (hand-built nets in tests);
        ``channels_last``: run 4-D batches in that layout (2-2.5x faster convs on CPU)."""
        self.build, self.seed, self.input_shape = build, seed, tuple(input_shape)
        self.x, self.y = batch
        self.channels_last = channels_last and self.x.dim() == 4
        self._shared: dict[str, Any] = {}
        if self.channels_last:
            self.x = self.x.contiguous(memory_format=torch.channels_last)

    @cached_property
    def net(self) -> nn.Module:
        net = self.build()
        net = (net if self.seed is None else seeded_init(net, self.seed)).to(self.x.device).train()
        return net.to(memory_format=torch.channels_last) if self.channels_last else net

    @cached_property
    def forward(self) -> ForwardPass:
        return ForwardPass(self.net, self.x)

    @cached_property
    def loss_gradients(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(d CE / d weight per conv/linear layer, d CE / d output of each such layer)."""
        fw = self.forward
        weights = [m.weight for m in fw.layers]
        loss = F.cross_entropy(fw.logits, self.y)
        grads = torch.autograd.grad(loss, weights + fw.layer_outputs, retain_graph=True,
                                    allow_unused=True)
        grads = [torch.zeros_like(t) if g is None else g
                 for t, g in zip(weights + fw.layer_outputs, grads)]
        return grads[:len(weights)], grads[len(weights):]

    @cached_property
    def input_jacobian(self) -> torch.Tensor:
        """d(sum of logits)/d input, one row per image (Mellor et al. 2020's Jacobian)."""
        fw = self.forward
        (grad,) = torch.autograd.grad(fw.logits, fw.x, torch.ones_like(fw.logits),
                                      retain_graph=True, allow_unused=True)
        grad = torch.zeros_like(fw.x) if grad is None else grad
        return grad.reshape(len(grad), -1)

    def shared(self, name: str, compute: Callable[[Probe], Any]) -> Any:
        """``compute(self)``, run once per probe for every proxy that asks by ``name``."""
        if name not in self._shared:
            self._shared[name] = compute(self)
        return self._shared[name]


class ForwardPass:
    """One train-mode forward that records what the proxies read: the logits, each
    conv/linear output, the binary ReLU codes' kernel (NASWOT) and the block features."""

    def __init__(self, net: nn.Module, x: torch.Tensor) -> None:
        self.layers = weighted_layers(net)
        self.x = x.detach().clone(memory_format=torch.preserve_format).requires_grad_(True)
        self.layer_outputs: list[torch.Tensor] = []
        self.features: list[torch.Tensor] = []
        n = len(x)
        self.code_kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
        self._code_terms: dict[int, tuple[torch.Tensor, int, torch.Tensor]] = {}
        hooks = [m.register_forward_hook(self._layer_hook) for m in self.layers]
        hooks += [m.register_forward_hook(self._relu_hook) for m in net.modules()
                  if isinstance(m, nn.ReLU)]
        blocks = feature_blocks(net)
        if blocks:
            hooks.append(blocks[0].register_forward_pre_hook(self._first_input_hook))
            hooks += [b.register_forward_hook(self._block_hook) for b in blocks]
        try:
            self.logits = net(self.x)
        finally:
            self._code_terms.clear()
            for h in hooks:
                h.remove()

    def _layer_hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.layer_outputs.append(output)

    def _relu_hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        # ReLUs of one tensor (a cell node feeding several conv edges) have the same codes:
        # their term is computed once and added again, in the same order (same sums)
        source = inputs[0]
        seen = self._code_terms.get(id(source))
        if seen is None or seen[0] is not source or seen[1] != source._version:
            seen = (source, source._version, _code_term(output.detach()))
            self._code_terms[id(source)] = seen
        self.code_kernel += seen[2]

    def _first_input_hook(self, module: nn.Module, inputs: tuple) -> None:
        if not self.features:
            self.features.append(inputs[0])

    def _block_hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.features.append(output)


def _code_term(output: torch.Tensor) -> torch.Tensor:
    """One ReLU's share of NASWOT's kernel, in float64.

    K[i,j] = units where codes agree = c_i.c_j + (1-c_i).(1-c_j) = N - s_i - s_j + 2 c_i.c_j
    with c the binary codes (ReLU(x) > 0 exactly when x > 0, so an in-place ReLU that
    overwrote its input gives the same codes) and s_i = c_i.c_i, the product's diagonal.
    Every number here is an integer (below 2^24), so the product is exact in int8 x int8 ->
    int32 (6x faster on CPU) as in float32 (sign() of a ReLU output is the code as a float;
    NaN, which codes 0, is set to 0). torch 2.13's CPU ``_int_mm`` is wrong for one unit per
    image (tests/proxies/test_definitions.py), which the float product then computes.
    """
    rows = _rows(output)
    if rows.device.type == "cpu" and rows.shape[1] > 1:
        codes = (rows > 0).view(torch.int8)
        ones = torch._int_mm(codes, codes.T).to(torch.float64)
    else:
        codes = torch.sign(rows).nan_to_num_(0.0).to(torch.float32)
        ones = (codes @ codes.T).to(torch.float64)
    sums = ones.diagonal()
    return 2 * ones - sums[:, None] - sums[None, :] + codes.shape[1]


def _rows(t: torch.Tensor) -> torch.Tensor:
    """One row per image, units in memory order (free for channels_last tensors; the
    order of units does not matter to the code kernel)."""
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        t = t.permute(0, 2, 3, 1)
    return t.reshape(len(t), -1)
