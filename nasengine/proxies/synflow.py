"""``synflow``: the synaptic flow of the network with positive weights (Tanaka et al. 2020)."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .base import PROXIES, ArchProxy, Probe, weighted_layers


@PROXIES.register("synflow")
class Synflow(ArchProxy):
    """Σ θ ⊙ ∂R/∂θ over conv/linear weights, R = sum of the outputs for an all-ones input,
    on a copy of the network in float64 with every weight replaced by |θ| and BN removed
    (zero-cost-nas builds the network with ``bn=False``); float64 because R overflows
    float32 in deep networks. Independent of the batch."""

    name = "synflow"

    def score(self, probe: Probe) -> float:
        net = without_batchnorm(copy.deepcopy(probe.net)).double()
        with torch.no_grad():
            for p in net.parameters():
                p.abs_()
        ones = torch.ones((1, *probe.input_shape[1:]), dtype=torch.float64,
                          device=probe.x.device)
        layers = weighted_layers(net)
        weights = [m.weight for m in layers]
        grads = torch.autograd.grad(net(ones).sum(), weights, allow_unused=True)
        return float(sum((w.detach() * g).sum() for w, g in zip(weights, grads)
                         if g is not None))


def without_batchnorm(net: nn.Module) -> nn.Module:
    """``net`` with every BatchNorm replaced by the identity (in place)."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    return net
