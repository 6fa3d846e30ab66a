"""The hybrid ranking: the supernet and the training-free proxies, by a fixed rule.

The rule is fixed in advance and never sees the ground truth: the supernet and each
member (default: the proxy ``ensemble``) get equal weight in a sum of log-ranks, the
way AZ-NAS combines its proxies. Two sources that err in different places (a
supernet trained briefly, proxies computed at initialisation) then cancel part of
each other's errors, and the log punishes an arch that either source ranks low.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from .base import Proxy
from .ensemble import log_position, log_rank_sum

if TYPE_CHECKING:  # pragma: no cover
    from ..report import RankingData

SUPERNET = "supernet"


def hybrid_ranking(data: RankingData, members: Sequence[str]) -> np.ndarray:
    """log-rank(supernet) + Σ log-rank(member) over the report's archs (higher = better);
    reads the supernet's and the rivals' scores only, never ``data.truth``."""
    if not members:
        raise ConfigError("proxies.hybrid needs at least one proxy to combine with the "
                          "supernet, e.g. [\"ensemble\"]")
    missing = [m for m in members if m not in data.rivals]
    if missing:
        raise ConfigError(f"hybrid members {missing} were not computed; "
                          f"known: {sorted(data.rivals)}")
    return log_rank_sum({SUPERNET: data.scores, **data.rivals}, [SUPERNET, *members])


class ProxyObjective:
    """Σ log-rank of each member proxy of one arch at a time: a training-free search objective.

    Ranks are positions among a fixed reference set of archs (the evaluation sample),
    so an arch's score does not depend on which others the search has seen. A set-level
    member (the ensemble) is first evaluated the same way from its own members.
    """

    def __init__(self, members: Mapping[str, Proxy],
                 reference: Mapping[str, Sequence[float]]) -> None:
        if not members:
            raise ConfigError("the proxy objective needs at least one proxy, e.g. "
                              "proxies.hybrid = [\"ensemble\"]")
        self.members = dict(members)
        self.sorted = {k: np.sort(np.asarray(v, dtype=np.float64)) for k, v in reference.items()}
        n = len(next(iter(reference.values()))) if reference else 0
        rows = [{k: float(v[i]) for k, v in reference.items()} for i in range(n)]
        self.member_ref = {name: np.sort([self._member(name, row) for row in rows])
                           for name in self.members}

    def _member(self, name: str, values: Mapping[str, float]) -> float:
        return self.members[name].against(values, self.sorted)

    def __call__(self, values: Mapping[str, float]) -> float:
        """The summed log-ranks of an arch from its per-arch proxy values."""
        return sum(log_position(self.member_ref[name], self._member(name, values))
                   for name in self.members)


class HybridObjective:
    """The hybrid score of one arch at a time, for a search: the supernet's log-rank among
    the reference archs plus the members' (:class:`ProxyObjective`)."""

    def __init__(self, supernet: Sequence[float], members: Mapping[str, Proxy],
                 reference: Mapping[str, Sequence[float]]) -> None:
        self.proxies = ProxyObjective(members, reference)
        self.supernet_ref = np.sort(np.asarray(supernet, dtype=np.float64))

    def __call__(self, supernet: float, values: Mapping[str, float]) -> float:
        """The hybrid score from the arch's supernet score and per-arch proxy values."""
        return log_position(self.supernet_ref, supernet) + self.proxies(values)
