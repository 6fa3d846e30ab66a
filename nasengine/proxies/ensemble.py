"""``ensemble``: several proxies as one ranking, by a sum of log-ranks (as AZ-NAS combines).

log(rank / n) punishes an arch that any member ranks near the bottom much more than it
rewards one ranked near the top, so the ensemble prefers archs no member dislikes.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import stats

from ..errors import ConfigError
from .base import PROXIES, ArchProxy, Proxy

#: AZ-NAS's combination: its three proxies and the FLOPs count
DEFAULT_MEMBERS = ("expressivity", "progressivity", "trainability", "flops")


def log_position(reference: np.ndarray, value: float) -> float:
    """log((#reference values <= value + 1) / (n + 1)) for a sorted ``reference``: the
    log-rank of an arch among a fixed set it need not belong to."""
    below = int(np.searchsorted(reference, value, side="right"))
    return math.log((below + 1) / (len(reference) + 1))


def log_rank_sum(columns: Mapping[str, Sequence[float]], names: Sequence[str]) -> np.ndarray:
    """Σ over ``names`` of log(rank / n), average ranks for ties, -inf ranked lowest."""
    total = None
    for name in names:
        values = np.asarray(columns[name], dtype=np.float64)
        ranks = stats.rankdata(np.nan_to_num(values, nan=-np.inf))
        part = np.log(ranks / len(values))
        total = part if total is None else total + part
    if total is None:
        raise ConfigError("a log-rank sum needs at least one member")
    return total


@PROXIES.register("ensemble")
class Ensemble(Proxy):
    """Σ log-rank over ``members`` (per-arch proxies); AZ-NAS's four by default."""

    name = "ensemble"

    def __init__(self, members: Sequence[str] = DEFAULT_MEMBERS) -> None:
        members = tuple(members)
        if not members:
            raise ConfigError("the ensemble needs at least one member proxy; e.g. "
                              f"proxies.ensemble = {list(DEFAULT_MEMBERS)}")
        for member in members:
            if not isinstance(PROXIES.create(member), ArchProxy):
                raise ConfigError(f"ensemble member {member!r} is not a per-arch proxy; "
                                  f"choose from {arch_proxy_names()}")
        self.members = members

    def combine(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        return log_rank_sum(columns, self.members)

    def against(self, values: Mapping[str, float], reference: Mapping[str, np.ndarray]) -> float:
        return sum(log_position(reference[m], values[m]) for m in self.members)


def arch_proxy_names() -> list[str]:
    return [n for n in PROXIES.names() if n != "ensemble"]
