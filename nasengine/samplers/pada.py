"""PA&DA: sample paths and data in proportion to their gradient norms (Lu et al., CVPR 2023).

Uniform single-path training has a high-variance gradient. Sampling proportionally to
the gradient norm minimises that variance, both over paths and over examples. PA&DA
gets both norms almost free from the ordinary training step:

* **path importance**: the norm of the gradients that the sampled choices' parameters
  already hold after backward (after gradient clipping, as coded);
* **data importance**: ``||softmax(logits) - onehot(y)||``, the norm of dCE/dlogits,
  taken from the forward pass (no extra backward).

Schedule, as in the reference code (``ShunLu91/PA-DA``, ``train_panda_201.py``):
the distributions are refreshed once per epoch. At the start of epoch ``e >= 1`` they are
rebuilt from epoch ``e - 1``'s statistics as ``w * normalised_norm + (1 - w) * uniform``
with ``w = tau * (e - 1) / epochs`` (``linear``, the code's ``epoch / E`` evaluated when
epoch ``e - 1`` ends) or ``w = tau`` (``constant``). Epoch 0 is uniform.

Decisions made here (see ``docs/algorithms.md`` section 3.2):

* **Parameter-free choices** (``skip_connect``, ``avg_pool_3x3``, and ``none``, which has no
  module at all) never carry a gradient. ``param_free="zero"`` (default) keeps the code's
  behaviour: their estimate is 0, so their probability decays to ``(1 - w) / K`` and late
  training trains almost only parametrised paths (the "collapse"). ``param_free="mean"``
  gives every choice without a gradient signal the mean estimate of the choices that had
  one in the same decision, so it keeps roughly its uniform share.
* **``none``** is not special-cased: the sampler never branches on choice names, so it is
  one more parameter-free choice under the rule above (what the code does).
* **Re-weighting**: off by default, like the code (a biased, curriculum-like estimator).
  With ``reweight=True``, :meth:`PADASampler.loss_weights` returns per-example factors
  ``U(a) U(i) / (p(a) p(i))`` that make the mean loss unbiased for uniform training; the
  trainer has to multiply the per-example loss by them.
* **Per-example scores** are averaged over an epoch's repeats (the code folds repeats by
  a pairwise mean) and kept across epochs: an example not drawn in the last epoch keeps
  its latest score, and one never seen gets the mean score (the code gives it 0).
* With a mixing weight of 0 the sampler returns no index sampler and draws paths with
  ``space.sample``: it is then exactly :class:`~nasengine.samplers.UniformSampler`.
"""
from __future__ import annotations

import copy
import math
import statistics
import warnings
from pathlib import Path
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..checkpoint import atomic_write
from ..errors import ConfigError
from ..space import Sample, SearchSpace
from ..supernet.base import has_choice_modules
from .base import SAMPLERS, IndexSampler, Sampler, StepFeedback

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ..supernet.base import Supernet

SCHEDULES = ("linear", "constant")
GRANULARITIES = ("op", "edge")
PARAM_FREE = ("zero", "mean")


@SAMPLERS.register("pada")
class PADASampler(Sampler):
    """Importance sampling of paths and data by gradient norm (PA&DA).

    Args:
        path: sample paths by gradient-norm importance (PA).
        data: sample training examples by gradient-norm importance (DA).
        tau: final mixing weight of the path importance term, in [0, 1].
        tau_data: the same for data (default: ``tau``).
        tau_schedule: ``"linear"`` ramp ``tau * epoch / epochs`` (as coded) or ``"constant"``.
        epochs: the run length E of the linear ramp (default: ``train.epochs``, from the
            trainer's :meth:`on_train_start`).
        path_granularity: ``"op"``: one estimate per choice value shared by all decisions
            (as coded); ``"edge"``: one per (decision, choice) pair. Default: ``"op"`` when
            every decision has the same choices (NB201), else ``"edge"`` (an op estimate
            would merge unrelated values, e.g. depth 1 and width 1.0).
        param_free: ``"zero"`` (as coded) or ``"mean"``, see the module docstring.
        reweight: make :meth:`loss_weights` return importance weights instead of ones.
        n_examples: training-set size, if known (the score table grows as needed anyway).
    """

    def __init__(self, space: SearchSpace, seed: int = 0, *, path: bool = True,
                 data: bool = True, tau: float = 1.0, tau_data: float | None = None,
                 tau_schedule: str = "linear", epochs: int | None = None,
                 path_granularity: str | None = None, param_free: str = "zero", reweight: bool = False,
                 n_examples: int | None = None) -> None:
        super().__init__(space, seed)
        for name, flag in (("path", path), ("data", data), ("reweight", reweight)):
            _check_bool(name, flag)
        self.tau = _check_fraction("tau", tau)
        self.tau_data = self.tau if tau_data is None else _check_fraction("tau_data", tau_data)
        self.tau_schedule = _check_choice("tau_schedule", tau_schedule, SCHEDULES)
        self.path_granularity = _granularity(space, path_granularity)
        self.param_free = _check_choice("param_free", param_free, PARAM_FREE)
        self.epochs = _check_positive("epochs", epochs)
        self.path, self.data, self.reweight = path, data, reweight
        self._epoch = -1
        self._path_weight = self._data_weight = 0.0
        self._norms: dict[Hashable, float] = {}   # running gradient norm per key, this epoch
        self._counts: dict[Hashable, int] = {}    # updates per key, this epoch
        self._path_probs: dict[str, list[float]] | None = None  # None: exactly uniform
        self._n = _check_positive("n_examples", n_examples) or 0
        self._scores = torch.full((self._n,), math.nan, dtype=torch.float64)
        self._score_sum = torch.zeros(self._n, dtype=torch.float64)
        self._score_count = torch.zeros(self._n, dtype=torch.float64)
        self._probs: torch.Tensor | None = None   # cache of this epoch's data distribution
        self._log: list[dict[str, Any]] = []
        self._warned_no_modules = False

    # -- the schedule ------------------------------------------------------------
    def mixing_weight(self, epoch: int, tau: float) -> float:
        """Weight of the importance term in the distribution used during ``epoch``."""
        if epoch <= 0 or tau == 0:
            return 0.0
        if self.tau_schedule == "constant":
            return tau
        epochs = self._run_length()
        return tau * min(epoch - 1, epochs) / epochs

    def _run_length(self) -> int:
        """E of the linear ramp; without it fail at the first epoch, not when the ramp starts."""
        ramps = (self.path and self.tau > 0) or (self.data and self.tau_data > 0)
        if self.epochs is None and ramps and self.tau_schedule == "linear":
            raise ConfigError("PA&DA's linear tau ramp (tau * epoch / E) needs the run length E: "
                              "set sampler.options.epochs (the trainer sets it to train.epochs), or set "
                              "sampler.options.tau_schedule = \"constant\"")
        return self.epochs or 1

    def on_train_start(self, epochs: int, steps_per_epoch: int) -> None:
        """Default the linear ramp's length to the run's epochs."""
        if self.epochs is None:
            self.epochs = _check_positive("epochs", epochs)

    def on_epoch_start(self, epoch: int) -> None:
        """Rebuild both distributions from the last epoch's statistics, then log them."""
        if epoch == self._epoch:
            return  # already refreshed (idempotent on resume)
        self._run_length()
        norms, counts = dict(self._norms), dict(self._counts)
        self._path_weight = self.mixing_weight(epoch, self.tau) if self.path else 0.0
        self._data_weight = self.mixing_weight(epoch, self.tau_data) if self.data else 0.0
        self._path_probs = self._path_distribution(self._path_weight)
        self._fold_scores()
        self._norms, self._counts, self._probs, self._epoch = {}, {}, None, epoch
        self._log.append({"epoch": epoch, "tau_path": self._path_weight,
                          "tau_data": self._data_weight, "path": self.path_probabilities(),
                          "path_norms": {self._key_name(k): v for k, v in norms.items()},
                          "path_updates": {self._key_name(k): v for k, v in counts.items()},
                          "data": self._data_stats(max(self._n, len(self._scores)))})

    # -- paths -------------------------------------------------------------------
    def sample(self, step: int) -> Sample:
        if self._path_probs is None:
            return self.space.sample(self.rng)
        return {label: self.rng.choices(dec.values, weights=self._path_probs[label])[0]
                for label, dec in self.space.decisions.items()}

    def path_probabilities(self) -> dict[str, dict[str, float]]:
        """The current probability of each choice, per decision (JSON-friendly keys)."""
        return {label: {str(v): (self._path_probs[label][i] if self._path_probs
                                 else 1 / len(dec.values))
                        for i, v in enumerate(dec.values)}
                for label, dec in self.space.decisions.items()}

    def _key(self, label: str, value: Any) -> Hashable:
        return (label, value) if self.path_granularity == "edge" else value

    def _key_name(self, key: Hashable) -> str:
        return f"{key[0]}:{key[1]}" if self.path_granularity == "edge" else str(key)

    def _path_distribution(self, weight: float) -> dict[str, list[float]] | None:
        """``weight * G / sum(G) + (1 - weight) / K`` per decision; None when uniform."""
        if weight == 0:
            return None
        probs = {}
        for label, dec in self.space.decisions.items():
            norms = [self._norms.get(self._key(label, v), 0.0) for v in dec.values]
            if self.param_free == "mean":
                signal = [g for g in norms if g > 0]
                fill = sum(signal) / len(signal) if signal else 0.0
                norms = [g if g > 0 else fill for g in norms]
            total, k = sum(norms), len(norms)
            importance = [g / total for g in norms] if total > 0 else [1 / k] * k
            probs[label] = [weight * q + (1 - weight) / k for q in importance]
        return probs

    def _observe_path(self, feedback: StepFeedback) -> None:
        """Fold the step's per-choice gradient norms into the running estimates G.

        ``G <- (G + s) / 2`` from 0 each epoch, for choices with a non-zero norm ``s``;
        at op granularity ``s`` is divided by the number of decisions that chose the op.
        """
        groups, divisors = self._choice_groups(feedback.supernet, feedback.arch)
        if not groups and not self._warned_no_modules:
            self._warned_no_modules = True
            if not (self.data and self.tau_data > 0) and not has_choice_modules(feedback.supernet):
                raise ConfigError(f"PA&DA with path importance only (sampler.options.data=false) "
                                  f"would be uniform sampling: {type(feedback.supernet).__name__}"
                                  ".choice_modules() names no modules for any choice; implement it,"
                                  " or use sampler.name=\"uniform\"")
            warnings.warn(f"PA&DA path importance is inactive: {type(feedback.supernet).__name__}"
                          ".choice_modules() names no modules, so paths stay uniform; implement "
                          "it in the supernet or set sampler.options.path=false", stacklevel=2)
        norms = {k: _grad_norm(modules) for k, modules in groups.items()}
        keys = [k for k, norm in norms.items() if norm is not None]
        if not keys:
            return
        for key, s in zip(keys, torch.stack([norms[k] for k in keys]).tolist()):
            s /= divisors[key]
            if s > 0 and math.isfinite(s):
                self._norms[key] = (self._norms.get(key, 0.0) + s) / 2
                self._counts[key] = self._counts.get(key, 0) + 1

    def _choice_groups(self, supernet: Supernet, arch: Sample
                       ) -> tuple[dict[Hashable, list[nn.Module]], dict[Hashable, int]]:
        """The modules behind each key, and how many decisions share that key."""
        if self.path_granularity == "edge":
            groups = decision_modules(supernet, arch, self.space)
            return groups, dict.fromkeys(groups, 1)
        groups = supernet.choice_modules(arch)
        return groups, {v: sum(1 for a in arch.values() if a == v) or 1 for v in groups}

    # -- data --------------------------------------------------------------------
    def index_sampler(self) -> IndexSampler | None:
        return self._draw_indices if self._data_weight > 0 else None

    def _draw_indices(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The epoch's stream: ``n`` draws with replacement from the data distribution."""
        probs = self._data_probs(n)
        if self._log and self._log[-1]["epoch"] == self._epoch:
            self._log[-1]["data"] = self._data_stats(n)
        return torch.multinomial(probs, n, replacement=True, generator=generator)

    def _observe_data(self, feedback: StepFeedback) -> None:
        """Accumulate ``||softmax(z) - onehot(y)||`` per dataset index (forward pass only)."""
        probs = feedback.logits.detach().float().softmax(dim=1)
        onehot = F.one_hot(feedback.targets.long(), probs.shape[1]).to(probs.dtype)
        scores = torch.linalg.vector_norm(probs - onehot, dim=1).double().cpu()
        indices = feedback.indices.detach().long().cpu()
        if len(indices):
            self._grow(int(indices.max()) + 1)
            self._score_sum.index_add_(0, indices, scores)
            self._score_count.index_add_(0, indices, torch.ones_like(scores))

    def _grow(self, size: int) -> None:
        """Extend the score tables to ``size`` examples (new ones unseen)."""
        extra = size - len(self._scores)
        if extra > 0:
            self._scores = torch.cat([self._scores, torch.full((extra,), math.nan,
                                                               dtype=torch.float64)])
            self._score_sum = F.pad(self._score_sum, (0, extra))
            self._score_count = F.pad(self._score_count, (0, extra))
            self._probs = None

    def _fold_scores(self) -> None:
        """Last epoch's mean score per example replaces that example's score."""
        seen = self._score_count > 0
        self._scores[seen] = self._score_sum[seen] / self._score_count[seen]
        self._score_sum.zero_()
        self._score_count.zero_()

    def _data_probs(self, n: int) -> torch.Tensor:
        """``w * score / sum(score) + (1 - w) / n``; never-seen examples get the mean score."""
        self._n = n
        self._grow(n)
        if self._probs is not None and len(self._probs) == n:
            return self._probs
        scores = self._scores[:n]
        seen = ~scores.isnan()
        fill = scores[seen].mean() if seen.any() else torch.tensor(1.0, dtype=torch.float64)
        filled = torch.where(seen, scores, fill)
        total = filled.sum()
        importance = filled / total if total > 0 else torch.full_like(filled, 1 / n)
        self._probs = self._data_weight * importance + (1 - self._data_weight) / n
        return self._probs

    def _data_stats(self, n: int) -> dict[str, float] | None:
        """Entropy and effective sample size of the data distribution (None if unknown)."""
        if not self.data or n == 0:
            return None
        p = self._data_probs(n)
        entropy = float(-(p * p.clamp_min(1e-300).log()).sum())
        ess = float(1 / (p * p).sum())
        return {"n": n, "entropy": entropy,
                "entropy_ratio": entropy / math.log(n) if n > 1 else 1.0,
                "ess": ess, "ess_fraction": ess / n, "max_prob_ratio": float(p.max() * n),
                "seen_fraction": float((~self._scores[:n].isnan()).double().mean())}

    # -- the step -----------------------------------------------------------------
    def observe(self, feedback: StepFeedback) -> None:
        if self.path and self.tau > 0:
            self._observe_path(feedback)
        if self.data and self.tau_data > 0 and feedback.indices is not None:
            self._observe_data(feedback)

    def loss_weights(self, arch: Mapping[str, Any],
                     indices: torch.Tensor | None) -> torch.Tensor | None:
        """Per-example loss factors ``U(a) U(i) / (p(a) p(i))`` (None unless ``reweight``).

        The trainer multiplies the per-example loss by these, which makes the batch loss an
        unbiased estimate of the uniform-sampling objective; the code PA&DA ships does not.
        """
        if not self.reweight or indices is None:
            return None
        weights = torch.ones(len(indices), dtype=torch.float64)
        if self._path_probs is not None:
            for label, dec in self.space.decisions.items():
                weights /= len(dec.values) * self._path_probs[label][dec.index(arch[label])]
        if self.index_sampler() is not None and self._n:
            probs = self._data_probs(self._n)
            weights /= self._n * probs[indices.detach().long().cpu()]
        return weights.float()

    # -- logging and state -------------------------------------------------------------
    def epoch_log(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._log[-1]) if self._log else None

    def plot_log(self, records: list[dict[str, Any]], path: Path) -> bool:
        if records:
            plot_distributions(records, path)
        return bool(records)

    def distribution_log(self) -> list[dict[str, Any]]:
        """One record per epoch: mixing weights, path probabilities, the norms they came
        from, and the data distribution's entropy and effective sample size."""
        return copy.deepcopy(self._log)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "epoch": self._epoch,
                "weights": (self._path_weight, self._data_weight),
                "norms": dict(self._norms), "counts": dict(self._counts),
                "path_probs": copy.deepcopy(self._path_probs), "n": self._n,
                "scores": self._scores.clone(), "score_sum": self._score_sum.clone(),
                "score_count": self._score_count.clone(), "log": self.distribution_log()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._epoch = state["epoch"]
        self._path_weight, self._data_weight = state["weights"]
        self._norms, self._counts = dict(state["norms"]), dict(state["counts"])
        self._path_probs = copy.deepcopy(state["path_probs"])
        self._n = state["n"]
        self._scores = state["scores"].clone()
        self._score_sum = state["score_sum"].clone()
        self._score_count = state["score_count"].clone()
        self._log = copy.deepcopy(state["log"])
        self._probs = None


def decision_modules(supernet: Supernet, arch: Sample, space: SearchSpace
                     ) -> dict[tuple[str, Any], list[nn.Module]]:
    """The modules of each (decision, chosen value), from ``choice_modules`` alone.

    ``choice_modules`` pools a value's modules over decisions; switching decision ``d``
    to another value removes exactly ``d``'s modules from that pool.
    """
    pooled = supernet.choice_modules(arch)
    groups: dict[tuple[str, Any], list[nn.Module]] = {}
    for label, dec in space.decisions.items():
        value = arch[label]
        other = next((v for v in dec.values if v != value), None)
        if value not in pooled or other is None:
            continue
        rest = {id(m) for m in supernet.choice_modules({**arch, label: other}).get(value, [])}
        groups[(label, value)] = [m for m in pooled[value] if id(m) not in rest]
    return groups


def _grad_norm(modules: Iterable[nn.Module]) -> torch.Tensor | None:
    """Sum of the gradient norms of the modules' parameters (None: no gradient at all)."""
    norms = [torch.linalg.vector_norm(p.grad.float()) for m in modules for p in m.parameters()
             if p.grad is not None]
    return torch.stack(norms).sum() if norms else None


def _granularity(space: SearchSpace, value: str | None) -> str:
    """``op`` only where every decision offers the same choices; ``None`` picks for the space."""
    shared = len({tuple(map(repr, d.values)) for d in space.decisions.values()}) == 1
    if value is None:
        return "op" if shared else "edge"
    value = _check_choice("path_granularity", value, GRANULARITIES)
    if value == "op" and not shared:
        raise ConfigError("sampler.options.path_granularity=\"op\" pools one estimate per choice "
                          "value over all decisions, but this space's decisions have different "
                          "choices (values of unrelated decisions would merge); use \"edge\"")
    return value


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"sampler.options.{name} must be true or false, got {value!r}")


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"sampler.options.{name} must be a number in [0, 1] (0 = uniform "
                          f"sampling, 1 = pure importance sampling), got {value!r}")
    return float(value)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"sampler.options.{name} must be one of {list(allowed)}, "
                          f"got {value!r}")
    return value


def _check_positive(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"sampler.options.{name} must be a positive integer, got {value!r}")
    return value


def _decision_groups(path: Mapping[str, Mapping[str, float]]) -> list[list[str]]:
    """Decisions grouped by their choice set, so only like choices are averaged together."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for label, probs in path.items():
        groups.setdefault(tuple(probs), []).append(label)
    return list(groups.values())


def plot_distributions(log: list[dict[str, Any]], path: Path) -> None:
    """Path probabilities (mean over decisions) and data-distribution spread per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in log]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    groups = _decision_groups(log[0]["path"])
    for labels in groups:
        for choice in log[0]["path"][labels[0]]:
            name = choice if len(groups) == 1 else f"{labels[0]}{'..' * (len(labels) > 1)}={choice}"
            left.plot(epochs, [statistics.mean(r["path"][d][choice] for d in labels)
                               for r in log], marker="o", label=name)
    left.set(xlabel="epoch", ylabel="probability (mean over decisions)", title="paths")
    left.legend(fontsize=7)
    for key in ("ess_fraction", "entropy_ratio"):
        right.plot(epochs, [r["data"][key] if r["data"] else 1.0 for r in log], marker="o",
                   label=key)
    right.set(xlabel="epoch", ylabel="fraction of uniform", title="data")
    right.ticklabel_format(axis="y", useOffset=False)
    for axis in (left, right):
        axis.xaxis.get_major_locator().set_params(integer=True)
    right.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
