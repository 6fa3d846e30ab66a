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
with ``w = importance_weight * (e - 1) / epochs`` (``linear``, the code's ``epoch / E``
evaluated when epoch ``e - 1`` ends) or ``w = importance_weight`` (``constant``). Epoch 0
is uniform. (The paper and its code call ``w`` tau; here it is the importance weight, so
that it is not mistaken for the Kendall tau the same runs report.)

The two halves are separate strategies: :class:`.path_importance.PathImportance` (its
gradient norms come from the supernet's ``choice_grad_norms``) and
:class:`.data_importance.DataImportance`; this module holds their schedule, the log and
the re-weighting.

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
* With an importance weight of 0 the sampler returns no index sampler and draws paths with
  ``space.sample``: it is then exactly :class:`~nasengine.samplers.UniformSampler`.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..plots import pada_distributions
from ..space import Sample, SearchSpace
from ..supernet.base import has_choice_modules
from ..validation import Rule, at_least, between, check_rule, one_of
from .base import SAMPLERS, IndexSampler, Sampler, StepFeedback, check_option_ranges
from .data_importance import DataImportance
from .path_importance import GRANULARITIES, PARAM_FREE, PathImportance

SCHEDULES = ("linear", "constant")
RENAMED_LOG_KEYS = {"tau_path": "path_importance_weight", "tau_data": "data_importance_weight"}

#: ranges of the options (their types are checked from the signature by ``SAMPLERS.create``)
OPTION_RULES: dict[str, Rule] = {
    "importance_weight": between(0, 1), "data_importance_weight": between(0, 1),
    "importance_schedule": one_of(*SCHEDULES), "path_granularity": one_of(*GRANULARITIES),
    "param_free": one_of(*PARAM_FREE), "epochs": at_least(1), "n_examples": at_least(1)}


@SAMPLERS.register("pada")
class PADASampler(Sampler):
    """Importance sampling of paths and data by gradient norm (PA&DA).

    Args:
        path: sample paths by gradient-norm importance (PA).
        data: sample training examples by gradient-norm importance (DA).
        importance_weight: final weight of the path importance term against uniform
            sampling, in [0, 1] (0: uniform; the paper's tau).
        data_importance_weight: the same for data (default: ``importance_weight``).
        importance_schedule: ``"linear"`` ramp ``importance_weight * epoch / epochs`` (as
            coded) or ``"constant"``.
        epochs: the run length E of the linear ramp (default: ``train.epochs``, from the
            trainer's :meth:`on_train_start`).
        path_granularity: ``"op"``: one estimate per choice value shared by all decisions, as
            coded; ``"edge"``: one per (decision, choice) pair. Default: ``"op"`` when every
            decision has the same choices (NB201), else ``"edge"`` (an op estimate would
            merge unrelated values, e.g. depth 1 and width 1.0).
        param_free: ``"zero"`` (as coded) or ``"mean"``, see the module docstring.
        reweight: make :meth:`loss_weights` return importance weights instead of ones.
        n_examples: training-set size, if known (the score table grows as needed anyway).
    """

    def __init__(self, space: SearchSpace, seed: int = 0, *, path: bool = True,
                 data: bool = True, importance_weight: float = 1.0,
                 data_importance_weight: float | None = None,
                 importance_schedule: str = "linear", epochs: int | None = None,
                 path_granularity: str | None = None, param_free: str = "zero",
                 reweight: bool = False, n_examples: int | None = None) -> None:
        super().__init__(space, seed)
        check_option_ranges(OPTION_RULES, importance_weight=importance_weight,
                            data_importance_weight=data_importance_weight,
                            importance_schedule=importance_schedule,
                            path_granularity=path_granularity, param_free=param_free,
                            epochs=epochs, n_examples=n_examples)
        self.importance_weight = float(importance_weight)
        self.data_importance_weight = (self.importance_weight if data_importance_weight is None
                                       else float(data_importance_weight))
        self.importance_schedule, self.epochs = importance_schedule, epochs
        self.path, self.data, self.reweight = path, data, reweight
        self.paths = PathImportance(space, path_granularity, param_free)
        self.examples = DataImportance(n_examples)
        self._epoch = -1
        self._path_weight = 0.0
        self._log: list[dict[str, Any]] = []
        self._checked_modules = False

    @property
    def path_granularity(self) -> str:
        return self.paths.granularity

    # -- the schedule ------------------------------------------------------------
    def mixing_weight(self, epoch: int, final: float) -> float:
        """Weight of the importance term in the distribution used during ``epoch``."""
        if epoch <= 0 or final == 0:
            return 0.0
        if self.importance_schedule == "constant":
            return final
        epochs = self._run_length()
        return final * min(epoch - 1, epochs) / epochs

    def _run_length(self) -> int:
        """E of the linear ramp; without it fail at the first epoch, not when the ramp starts."""
        if self.epochs is None and self._learns_any() and self.importance_schedule == "linear":
            raise ConfigError("PA&DA's linear importance ramp (importance_weight * epoch / E) "
                              "needs the run length E: set sampler.options.epochs (the trainer "
                              "sets it to train.epochs), or set "
                              "sampler.options.importance_schedule = \"constant\"")
        return self.epochs or 1

    def _learns_paths(self) -> bool:
        return self.path and self.importance_weight > 0

    def _learns_data(self) -> bool:
        return self.data and self.data_importance_weight > 0

    def _learns_any(self) -> bool:
        return self._learns_paths() or self._learns_data()

    def on_train_start(self, epochs: int) -> None:
        """Default the linear ramp's length to the run's epochs."""
        if self.epochs is None:
            check_rule("train.epochs", epochs, OPTION_RULES["epochs"])
            self.epochs = epochs

    def on_epoch_start(self, epoch: int) -> None:
        """Rebuild both distributions from the last epoch's statistics, then log them."""
        if epoch == self._epoch:
            return  # already refreshed (idempotent on resume)
        self._run_length()
        self._path_weight = self.mixing_weight(epoch, self.importance_weight) if self.path else 0.0
        data_weight = self.mixing_weight(epoch, self.data_importance_weight) if self.data else 0.0
        norms, counts = self.paths.refresh(self._path_weight)
        self.examples.refresh(data_weight)
        self._epoch = epoch
        self._log.append({"epoch": epoch, "path_importance_weight": self._path_weight,
                          "data_importance_weight": data_weight,
                          "path": self.paths.probabilities(), "path_norms": norms,
                          "path_updates": counts, "data": self._data_stats(self.examples.size)})

    # -- paths and data ------------------------------------------------------------
    def sample(self) -> Sample:
        return self.paths.sample(self.rng)

    def path_probabilities(self) -> dict[str, dict[str, float]]:
        """The current probability of each choice, per decision (JSON-friendly keys)."""
        return self.paths.probabilities()

    def index_sampler(self) -> IndexSampler | None:
        return self._draw_indices if self.examples.weight > 0 else None

    def _draw_indices(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The epoch's stream: ``n`` draws with replacement from the data distribution."""
        self.examples.probs(n)
        if self._log and self._log[-1]["epoch"] == self._epoch:
            self._log[-1]["data"] = self._data_stats(n)
        return self.examples.draw(n, generator)

    def _data_stats(self, n: int) -> dict[str, float] | None:
        return self.examples.stats(n) if self.data else None

    # -- the step -----------------------------------------------------------------
    def observe(self, feedback: StepFeedback) -> None:
        if self._learns_paths():
            self._check_modules(feedback.supernet)
            self.paths.observe(feedback.supernet, feedback.arch)
        if self._learns_data() and feedback.indices is not None:
            self.examples.observe(feedback.logits, feedback.targets, feedback.indices)

    def _check_modules(self, supernet: Any) -> None:
        """Once per process: path importance needs ``choice_modules``; without it PA&DA
        refuses to run as uniform sampling under another name, or warns if data learns."""
        if self._checked_modules:
            return
        self._checked_modules = True
        if has_choice_modules(supernet):
            return
        name = type(supernet).__name__
        if not self._learns_data():
            raise ConfigError(f"PA&DA with path importance only (sampler.options.data=false) "
                              f"would be uniform sampling: {name}.choice_modules() names no "
                              "modules for any choice; implement it, or use "
                              "sampler.name=\"uniform\"")
        warnings.warn(f"PA&DA path importance is inactive: {name}.choice_modules() names no "
                      "modules, so paths stay uniform; implement it in the supernet or set "
                      "sampler.options.path=false", stacklevel=3)

    def loss_weights(self, arch: Mapping[str, Any],
                     indices: torch.Tensor | None) -> torch.Tensor | None:
        """Per-example loss factors ``U(a) U(i) / (p(a) p(i))`` (None unless ``reweight``).

        The trainer multiplies the per-example loss by these, which makes the batch loss an
        unbiased estimate of the uniform-sampling objective; the code PA&DA ships does not.
        """
        if not self.reweight or indices is None:
            return None
        weights = torch.ones(len(indices), dtype=torch.float64)
        self.paths.reweight(weights, arch)
        if self.index_sampler() is not None:
            self.examples.reweight(weights, indices)
        return weights.float()

    # -- logging and state -------------------------------------------------------------
    def epoch_log(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._log[-1]) if self._log else None

    def plot_log(self, records: list[dict[str, Any]], path: Path) -> bool:
        if records:
            pada_distributions(records, path)
        return bool(records)

    def distribution_log(self) -> list[dict[str, Any]]:
        """One record per epoch: importance weights, path probabilities, the norms they came
        from, and the data distribution's entropy and effective sample size."""
        return copy.deepcopy(self._log)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "epoch": self._epoch,
                "weights": (self._path_weight, self.examples.weight),
                **self.paths.state_dict(), **self.examples.state_dict(),
                "log": self.distribution_log()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._epoch = state["epoch"]
        self._path_weight, data_weight = state["weights"]
        self.paths.load_state_dict(state)
        self.examples.load_state_dict(state, data_weight)
        # checkpoints written before the rename logged the weights as tau_path/tau_data
        self._log = [{RENAMED_LOG_KEYS.get(k, k): v for k, v in record.items()}
                     for record in copy.deepcopy(state["log"])]
