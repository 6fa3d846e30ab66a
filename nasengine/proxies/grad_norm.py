"""``grad_norm``: how large the loss gradient is at initialisation (Abdelfattah et al.)."""
from __future__ import annotations

from .base import PROXIES, ArchProxy, Probe


@PROXIES.register("grad_norm")
class GradNorm(ArchProxy):
    """Sum over conv/linear layers of the Euclidean norm of the layer's weight gradient of
    the cross-entropy loss on the batch (zero-cost-nas sums the per-layer norms)."""

    name = "grad_norm"

    def score(self, probe: Probe) -> float:
        weight_grads, _ = probe.loss_gradients
        return float(sum(g.double().norm() for g in weight_grads))
