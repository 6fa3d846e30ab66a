"""``jacob_cov``: how differently the network responds to different images (Mellor et al. 2020)."""
from __future__ import annotations

import math

import numpy as np

from .base import PROXIES, ArchProxy, Probe

_K = 1e-5


@PROXIES.register("jacob_cov")
class JacobCov(ArchProxy):
    """-Σ_i log(λ_i + k) + 1/(λ_i + k) over the eigenvalues of the correlation matrix of
    the per-image input Jacobians of the summed logits (k = 1e-5). Correlated Jacobians
    (small eigenvalues) score low. A network whose output ignores its input has no
    correlation matrix: -inf."""

    name = "jacob_cov"

    def score(self, probe: Probe) -> float:
        jac = probe.input_jacobian.detach().double().cpu().numpy()
        if np.any(jac.std(axis=1) == 0):
            return -math.inf
        eig = np.linalg.eigvalsh(np.corrcoef(jac))
        return float(-np.sum(np.log(eig + _K) + 1.0 / (eig + _K)))
