"""The hybrid ranking: the supernet and the training-free proxies, by a fixed rule.

Each rule is fixed in advance and never sees the ground truth; :data:`HYBRID_RULES`
holds them by name (``proxies.rule``):

* ``logrank-sum`` (the default): the supernet and each member (default: the proxy
  ``ensemble``) get equal weight in a sum of log-ranks, the way AZ-NAS combines its
  proxies. Two sources that err in different places (a supernet trained briefly,
  proxies computed at initialisation) then cancel part of each other's errors, and the
  log punishes an arch that either source ranks low.
* ``shortlist``: the proxies pick the candidates, the supernet only orders them. The
  members' top ``proxies.shortlist`` share of the archs comes first, ordered by the
  supernet; the rest follow in ``logrank-sum`` order. The supernet errs most at the top,
  where the sum gives it half the vote; here it only chooses among proxy-approved archs.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np
from scipy import stats

from ..errors import ConfigError
from ..registry import Registry
from .base import Proxy
from .ensemble import log_position, log_rank_sum

if TYPE_CHECKING:  # pragma: no cover
    from ..config import ProxyConfig
    from ..report import RankingData

SUPERNET = "supernet"


def hybrid_ranking(data: RankingData, members: Sequence[str],
                   rule: HybridRule | None = None) -> np.ndarray:
    """The hybrid score of each of the report's archs (higher = better) by ``rule``
    (default ``logrank-sum``); reads the supernet's and the rivals' scores only, never
    ``data.truth``."""
    if not members:
        raise ConfigError("proxies.hybrid needs at least one proxy to combine with the "
                          "supernet, e.g. [\"ensemble\"]")
    missing = [m for m in members if m not in data.rivals]
    if missing:
        raise ConfigError(f"hybrid members {missing} were not computed; "
                          f"known: {sorted(data.rivals)}")
    return (rule or LogRankSum()).rank(data.scores, data.rivals, members)


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
        self.rows = [{k: float(v[i]) for k, v in reference.items()} for i in range(n)]
        self.member_ref = {name: np.sort([self._member(name, row) for row in self.rows])
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


Objective = Callable[[float, Mapping[str, float]], float]
"""(the arch's supernet score, its per-arch proxy values) -> its hybrid score."""


class HybridRule(ABC):
    """How the supernet and the members combine: over a report's archs (:meth:`rank`) and
    one arch at a time against a fixed reference set, for a search (:meth:`objective`)."""

    label = "hybrid"  # what the report's row says

    @abstractmethod
    def rank(self, supernet: Sequence[float], columns: Mapping[str, Sequence[float]],
             members: Sequence[str]) -> np.ndarray:
        """The score of each arch (higher = better) from the supernet's scores and the
        members' columns over the same archs."""

    @abstractmethod
    def objective(self, supernet: Sequence[float], members: Mapping[str, Proxy],
                  reference: Mapping[str, Sequence[float]]) -> Objective:
        """The rule against the reference archs' supernet scores and proxy values."""

    def describe(self) -> dict[str, Any]:
        """What a search study records of the rule (its identity)."""
        return {}


HYBRID_RULES: Registry[HybridRule] = Registry("hybrid rule")


def hybrid_rule(config: ProxyConfig) -> HybridRule:
    """The rule ``config.rule`` names (ConfigError listing the known ones if none)."""
    return HYBRID_RULES.create(config.rule, config=config)


@HYBRID_RULES.register("logrank-sum")
class LogRankSum(HybridRule):
    """log-rank(supernet) + Σ log-rank(member): each source gets an equal vote.

    It records nothing in a search's identity: studies made before rules existed used it.
    """

    label = "log-rank sum"

    def __init__(self, config: ProxyConfig | None = None) -> None:
        pass

    def rank(self, supernet: Sequence[float], columns: Mapping[str, Sequence[float]],
             members: Sequence[str]) -> np.ndarray:
        return log_rank_sum({SUPERNET: supernet, **columns}, [SUPERNET, *members])

    def objective(self, supernet: Sequence[float], members: Mapping[str, Proxy],
                  reference: Mapping[str, Sequence[float]]) -> Objective:
        return HybridObjective(supernet, members, reference)


def shortlist_size(q: float, n: int) -> int:
    """ceil(q·n), at least 1 (rounded first, so 0.1·30 is 3, not 4)."""
    return max(1, math.ceil(round(q * n, 9)))


def top_threshold(values: Sequence[float], q: float) -> float:
    """The ceil(q·n)-th highest of ``values``: archs at or above it are shortlisted (ties at
    the boundary all are)."""
    ordered = np.sort(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf))
    return float(ordered[len(ordered) - shortlist_size(q, len(ordered))])


@HYBRID_RULES.register("shortlist")
class Shortlist(HybridRule):
    """The members' top q of the archs (by their log-rank sum) first, ordered by the
    supernet alone; then the rest by the ``logrank-sum`` rule.

    A shortlisted arch scores 1 + log(its supernet rank) >= 1, every other arch a sum of
    log-ranks <= 0, so the proxies decide who competes and the supernet who wins.
    """

    def __init__(self, config: ProxyConfig | None = None) -> None:
        from ..config import ProxyConfig

        self.q = (config or ProxyConfig()).shortlist
        self.label = f"shortlist q={self.q:g}"

    def rank(self, supernet: Sequence[float], columns: Mapping[str, Sequence[float]],
             members: Sequence[str]) -> np.ndarray:
        rest = LogRankSum().rank(supernet, columns, members)
        proxies = log_rank_sum(columns, members)
        picked = proxies >= top_threshold(proxies, self.q)
        ranks = stats.rankdata(np.nan_to_num(np.asarray(supernet, dtype=np.float64),
                                             nan=-np.inf))
        return np.where(picked, 1.0 + np.log(ranks), rest)

    def objective(self, supernet: Sequence[float], members: Mapping[str, Proxy],
                  reference: Mapping[str, Sequence[float]]) -> Objective:
        return ShortlistObjective(supernet, members, reference, self.q)

    def describe(self) -> dict[str, Any]:
        return {"rule": "shortlist", "shortlist": self.q}


class ShortlistObjective:
    """The ``shortlist`` rule one arch at a time: the arch is shortlisted when its members'
    summed log-rank (:class:`ProxyObjective`) reaches the reference archs' top ceil(q·n);
    it then scores 1 + log(1 + #reference supernet scores <= its own), else its
    :class:`HybridObjective` value (<= 0). An arch off the list needs its supernet score
    too (that value reads it), so the rule saves no supernet evaluation."""

    def __init__(self, supernet: Sequence[float], members: Mapping[str, Proxy],
                 reference: Mapping[str, Sequence[float]], q: float) -> None:
        self.hybrid = HybridObjective(supernet, members, reference)
        proxies = self.hybrid.proxies
        self.threshold = top_threshold([proxies(row) for row in proxies.rows], q)

    def __call__(self, supernet: float, values: Mapping[str, float]) -> float:
        proxies = self.hybrid.proxies(values)
        position = log_position(self.hybrid.supernet_ref, supernet)
        if proxies >= self.threshold:
            return 1.0 + math.log(len(self.hybrid.supernet_ref) + 1) + position
        return position + proxies
