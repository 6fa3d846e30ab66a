"""``naswot``: how differently the ReLUs switch for different images (Mellor et al., ICML 2021)."""
from __future__ import annotations

import numpy as np

from .base import PROXIES, ArchProxy, Probe


@PROXIES.register("naswot")
class NASWOT(ArchProxy):
    """log|det K_H|, K_H[i, j] = number of ReLU units (of every ReLU) whose sign agrees on
    images i and j. Inputs the network cannot tell apart make K_H near-singular.

    The codes come from ``nn.ReLU`` modules (as the paper's hooks); a block that calls
    ``F.relu`` (the macro space's MBConvs) is not seen."""

    name = "naswot"
    # a ReLU fed only zeros codes 0 for every image and adds a constant to K_H
    function_only = False

    def score(self, probe: Probe) -> float:
        _, logdet = np.linalg.slogdet(probe.forward.code_kernel.cpu().numpy())
        return float(logdet)
