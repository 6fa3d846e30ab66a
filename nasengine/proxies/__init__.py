"""Training-free proxies, registered by name in :data:`PROXIES` (one module per proxy).

>>> from nasengine.proxies import PROXIES
>>> PROXIES.names()  # doctest: +NORMALIZE_WHITESPACE
['ensemble', 'expressivity', 'fisher', 'flops', 'grad_norm', 'jacob_cov', 'naswot',
 'params', 'progressivity', 'snip', 'synflow', 'trainability']
"""
from .aznas import Expressivity, Progressivity, Trainability
from .base import PROXIES, ArchProxy, Probe, Proxy, seeded_init
from .complexity import Flops, Params
from .ensemble import DEFAULT_MEMBERS, Ensemble, log_rank_sum
from .fisher import Fisher
from .grad_norm import GradNorm
from .jacob_cov import JacobCov
from .naswot import NASWOT
from .snip import Snip
from .synflow import Synflow

__all__ = ["DEFAULT_MEMBERS", "PROXIES", "ArchProxy", "Ensemble", "Expressivity", "Fisher",
           "Flops", "GradNorm", "JacobCov", "NASWOT", "Params", "Probe", "Progressivity",
           "Proxy", "Snip", "Synflow", "Trainability", "log_rank_sum", "seeded_init"]
