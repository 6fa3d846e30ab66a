"""``snip``: connection sensitivity, how much the loss reacts to removing each weight."""
from __future__ import annotations

from .base import PROXIES, ArchProxy, Probe


@PROXIES.register("snip")
class Snip(ArchProxy):
    """Sum of |θ ⊙ ∂L/∂θ| over conv/linear weights (Lee et al. 2019, as a NAS proxy by
    Abdelfattah et al.)."""

    name = "snip"

    def score(self, probe: Probe) -> float:
        weight_grads, _ = probe.loss_gradients
        layers = probe.forward.layers
        return float(sum((m.weight.detach() * g).abs().double().sum()
                         for m, g in zip(layers, weight_grads)))
