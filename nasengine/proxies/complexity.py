"""``params`` and ``flops``: the size of the stand-alone network, the trivial rivals."""
from __future__ import annotations

from ..complexity import count_flops, count_params
from .base import PROXIES, ArchProxy, Probe


@PROXIES.register("params")
class Params(ArchProxy):
    """Parameter count (millions): "bigger is better", the baseline every ranking must beat."""

    name = "params"
    function_only = False  # dead edges still hold weights

    def score(self, probe: Probe) -> float:
        return count_params(probe.net) / 1e6


@PROXIES.register("flops")
class Flops(ArchProxy):
    """Multiply-accumulates of one image (millions, NB201's convention); AZ-NAS's complexity."""

    name = "flops"
    function_only = False  # the count includes convolutions of zero inputs

    def score(self, probe: Probe) -> float:
        return count_flops(probe.net, probe.input_shape) / 1e6
