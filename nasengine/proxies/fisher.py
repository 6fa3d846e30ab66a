"""``fisher``: how much the loss would change if each channel were pruned (Theis et al.)."""
from __future__ import annotations

from .base import PROXIES, ArchProxy, Probe


@PROXIES.register("fisher")
class Fisher(ArchProxy):
    """Σ over conv/linear output channels of ½·mean over images of (Σ_space a·∂L/∂a)²,
    with ``a`` the layer's output, as zero-cost-nas computes it."""

    name = "fisher"

    def score(self, probe: Probe) -> float:
        _, output_grads = probe.loss_gradients
        total = 0.0
        for act, grad in zip(probe.forward.layer_outputs, output_grads):
            prod = (act.detach() * grad).double()
            per_channel = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
            total += float(per_channel.pow(2).mean(0).mul(0.5).sum())
        return total
