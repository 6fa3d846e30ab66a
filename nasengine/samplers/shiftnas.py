"""ShiftNAS: complexity-shifted sampling and an architecture generator (Zhang et al., ICCV 2023).

Uniform sampling trains mostly mid-complexity subnets, because most archs are there. ShiftNAS
splits the space into complexity regions, shifts the sampling probability toward the regions
whose subnets still differ most, and trains a generator that proposes a subnet for a requested
complexity. The paper's code is not public (``docs/algorithms.md`` section 5); every choice
below is ours and configurable (``sampler.options``):

* **Regions** (:mod:`.regions`): ``regions`` bins of the stand-alone ``metric`` (``params`` or
  ``flops``) at the run's width; ``binning="quantile"`` (equal shares of the space, default)
  or ``"width"`` (equal widths in log complexity, the paper's "sub-spaces of close FLOPs").
  Edges come from ``bin_sample`` seeded uniform archs.
* **Distribution**: ``P = (1 - floor) softmax(theta) + floor * prior``, ``prior`` the regions'
  share of the space; ``theta`` starts at ``log(prior)``, so before any shift ShiftNAS draws
  archs exactly as often per region as uniform sampling does.
* **Performance variation** per region, after every epoch (``estimator``): ``"valid"`` = the
  standard deviation of the held-out loss of ``archs_per_region`` archs drawn uniformly inside
  the region, all scored on the same ``score_batches`` held-out batches (``data.valid_images``),
  so batch noise is not counted; ``"train"`` = the standard deviation of the training losses of
  the steps in that region during the epoch (free, but mixes in batch noise and the LR decay).
  Smoothed by an EMA with weight ``smoothing`` on the old value.
* **Shift**: one gradient-ascent step per epoch from epoch ``shift_start`` on, on the expected
  (normalised) variation ``J(theta) = sum_b P_b v_b / mean(v)``:
  ``theta_b += lr * P_b (v_b - sum_c P_c v_c) / mean(v)``.
* **Draws**: a region ``b ~ P``; then, with probability ``generator_share`` (once the generator
  has trained for an epoch), the generator's sample for a target drawn uniformly in ``b``;
  otherwise a uniform arch inside ``b`` (rejection sampling, falling back to the sampled archs of
  ``b``). Steps are counted by the region the trained arch really falls in.
* **Generator** (:mod:`.generator`, an MLP): trained after every epoch for ``generator_steps``
  Adam steps (``generator_lr``) on held-out batches, each split into ``chunks`` parts with their
  own target. Loss = cross-entropy of the straight-through Gumbel-softmax sample through the
  supernet's one-pass mixture forward (batch-statistics BN, supernet weights untouched) plus
  ``complexity_weight * (log E[c] - log target)^2``, ``E[c]`` the expected complexity under the
  generator's (unmasked) per-decision softmax by the linear complexity model (exact on
  additive spaces such as NB201, a ridge fit otherwise): a deterministic gradient, where a
  penalty on the straight-through sample barely learned (see :mod:`.generator`). Decoding masks
  the choices that would leave the band ``target / (1 + tolerance) .. target * (1 + tolerance)``
  unreachable (:func:`.generator.decode`), so archs land in the band whenever the model is exact
  and the band holds an arch. The supernet
  trains on the archs the generator proposes (end to end, alternating, as DARTS alternates
  weights and architecture parameters).

Before :meth:`bind` (no supernet, no complexity measure) draws are uniform.
"""
from __future__ import annotations

import copy
import math
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..plots import shiftnas_regions
from ..space import Sample, SearchSpace
from ..supernet.base import MixtureSupernet
from ..validation import Rule, above, at_least, between, one_of
from .base import SAMPLERS, Sampler, SamplerContext, StepFeedback, check_option_ranges
from .generator import ArchGenerator, decode, hard_pick, straight_through
from .regions import BINNINGS, LinearComplexity, Regions

ESTIMATORS = ("valid", "train")
METRICS = ("params", "flops")
MEASURED_SAMPLE = 96  # archs measured one by one for the edges of a non-additive space
REJECTION_TRIES = 200

#: ranges of the options (their types are checked from the signature by ``SAMPLERS.create``)
OPTION_RULES: dict[str, Rule] = {
    "metric": one_of(*METRICS), "binning": one_of(*BINNINGS), "estimator": one_of(*ESTIMATORS),
    **dict.fromkeys(("regions", "archs_per_region"), at_least(2)),
    **dict.fromkeys(("score_batches", "chunks", "noise_dim", "hidden"), at_least(1)),
    **dict.fromkeys(("shift_start", "generator_steps", "lr", "complexity_weight", "tolerance"),
                    at_least(0)),
    **dict.fromkeys(("smoothing", "floor"), between(0, 1, closed=False)),
    "generator_share": between(0, 1),
    **dict.fromkeys(("generator_lr", "temperature"), above(0))}


@SAMPLERS.register("shiftnas")
class ShiftNASSampler(Sampler):
    """Region distribution shifted toward high performance variation, plus an arch generator."""

    def __init__(self, space: SearchSpace, seed: int = 0, *, regions: int = 3,
                 metric: str = "params", binning: str = "quantile", estimator: str = "valid",
                 archs_per_region: int = 8, score_batches: int = 1, lr: float = 2.0,
                 smoothing: float = 0.5, shift_start: int = 1, floor: float = 0.1,
                 generator_share: float = 0.5, generator_steps: int = 16,
                 generator_lr: float = 1e-2, complexity_weight: float = 10.0, chunks: int = 8,
                 temperature: float = 1.0, tolerance: float = 0.1, noise_dim: int = 8,
                 hidden: int = 64,
                 bin_sample: int = 2048) -> None:
        super().__init__(space, seed)
        check_option_ranges(
            {**OPTION_RULES, "bin_sample": at_least(2 * regions)}, regions=regions,
            metric=metric, binning=binning, estimator=estimator,
            archs_per_region=archs_per_region, score_batches=score_batches, lr=lr,
            smoothing=smoothing, shift_start=shift_start, floor=floor,
            generator_share=generator_share, generator_steps=generator_steps,
            generator_lr=generator_lr, complexity_weight=complexity_weight, chunks=chunks,
            temperature=temperature, tolerance=tolerance, noise_dim=noise_dim, hidden=hidden,
            bin_sample=bin_sample)
        self.k, self.metric, self.binning, self.estimator = regions, metric, binning, estimator
        self.archs_per_region, self.score_batches = archs_per_region, score_batches
        self.lr, self.smoothing, self.floor = float(lr), float(smoothing), float(floor)
        self.shift_start, self.generator_steps = shift_start, generator_steps
        self.generator_share, self.generator_lr = float(generator_share), float(generator_lr)
        self.complexity_weight, self.chunks = float(complexity_weight), chunks
        self.temperature, self.tolerance = float(temperature), float(tolerance)
        self.bin_sample = bin_sample
        with torch.random.fork_rng(devices=[]):  # the run's global CPU RNG stays untouched
            torch.manual_seed(seed)
            self.generator = ArchGenerator([len(d.values) for d in space.decisions.values()],
                                           noise_dim, hidden)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=self.generator_lr)
        self.noise = torch.Generator().manual_seed(seed)
        self.context: SamplerContext | None = None
        self.model: LinearComplexity | None = None
        self.regions: Regions | None = None
        self.theta: list[float] = []
        self.smoothed: list[float] | None = None
        self.generator_ready = False
        self.valid_draws = 0  # held-out batches consumed (valid_batch(k) is pure in k)
        self._epoch_stats = self._fresh_stats()
        self._log: list[dict[str, Any]] = []

    def _fresh_stats(self) -> dict[str, Any]:
        return {"steps": [0] * (len(self.regions) if self.regions else self.k),
                "losses": [[] for _ in range(len(self.regions) if self.regions else self.k)],
                "generated": 0, "calibration": []}

    # -- binding: the complexity model, the regions, the device --------------------------
    def bind(self, context: SamplerContext) -> None:
        self.context = context
        if self.estimator == "valid" or self.generator_steps:
            context.require_valid("shiftnas")
        if self.model is None:
            self.model = LinearComplexity.measure(self.space, context.complexity, self.metric,
                                                  self._region_rng(), checks=12,
                                                  fit_archs=MEASURED_SAMPLE - 12)
            self.regions = self._build_regions(self._region_rng())
            self.theta = [math.log(p) for p in self.regions.prior]
            self._epoch_stats = self._fresh_stats()
        self.generator.to(context.device)
        self.optimizer.load_state_dict(self.optimizer.state_dict())  # moves Adam's state too

    def _region_rng(self) -> random.Random:
        """The same arch sequence for the model and the edges (measured once, cached)."""
        return random.Random(f"shiftnas-regions-{self.seed}")

    def _build_regions(self, rng: random.Random) -> Regions:
        n = self.bin_sample if self.model.exact else min(self.bin_sample, MEASURED_SAMPLE)
        archs = [self.space.sample(rng) for _ in range(n)]
        return Regions.build([self.complexity(a) for a in archs], self.k, self.binning,
                             ids=[self.space.encode(a) for a in archs])

    def complexity(self, arch: Sample) -> float:
        """The stand-alone ``metric`` of ``arch`` at the run's width (exact)."""
        if self.model is not None and self.model.exact:
            return self.model(arch)
        return float(self._bound().complexity(arch)[self.metric])

    def region_of(self, arch: Sample) -> int:
        return self._regions().region(self.complexity(arch))

    def _bound(self) -> SamplerContext:
        if self.context is None:
            raise ConfigError("the ShiftNAS sampler has no supernet yet: the trainer binds it "
                              "(Sampler.bind) before the first step; call bind(context) first")
        return self.context

    def _regions(self) -> Regions:
        self._bound()
        assert self.regions is not None  # set by bind
        return self.regions

    # -- the distribution ------------------------------------------------------------------
    def probabilities(self) -> list[float]:
        """``(1 - floor) softmax(theta) + floor * prior``."""
        regions = self._regions()
        soft = torch.tensor(self.theta, dtype=torch.float64).softmax(0).tolist()
        return [(1 - self.floor) * p + self.floor * q for p, q in zip(soft, regions.prior)]

    def shift(self, variation: list[float]) -> None:
        """One ascent step on ``sum_b P_b v_b / mean(v)`` (regions without data keep theta)."""
        known = [v for v in variation if math.isfinite(v)]
        scale = statistics.mean(known) if known else 0.0
        if scale <= 0 or self.lr == 0:
            return
        probs = torch.tensor(self.theta, dtype=torch.float64).softmax(0).tolist()
        v = [x / scale if math.isfinite(x) else 1.0 for x in variation]
        mean = sum(p * x for p, x in zip(probs, v))
        self.theta = [t + self.lr * p * (x - mean) for t, p, x in zip(self.theta, probs, v)]

    # -- drawing archs -----------------------------------------------------------------------
    def sample(self) -> Sample:
        if self.context is None:
            return self.space.sample(self.rng)
        b = self.rng.choices(range(len(self._regions())), weights=self.probabilities())[0]
        if self.generator_ready and self.rng.random() < self.generator_share:
            target = self._target(b)
            arch = self.generate(target)
            self._epoch_stats["generated"] += 1
            self._epoch_stats["calibration"].append(abs(self.complexity(arch) - target) / target)
        else:
            arch = self.uniform_in(b)
        self._epoch_stats["steps"][self.region_of(arch)] += 1
        return arch

    def uniform_in(self, b: int) -> Sample:
        """A uniform arch of region ``b`` (rejection; else one of its sampled archs)."""
        for _ in range(REJECTION_TRIES):
            arch = self.space.sample(self.rng)
            if self.region_of(arch) == b:
                return arch
        return self.space.decode(self.rng.choice(self._regions().pools[b]))

    def _target(self, b: int) -> float:
        """A complexity drawn log-uniformly inside region ``b``."""
        lo, hi = self._regions().bounds(b)
        return math.exp(self.rng.uniform(math.log(lo), math.log(hi)))

    def scaled(self, target: float) -> torch.Tensor:
        """The generator's input ``u``: log complexity scaled to [0, 1] over the sampled range."""
        regions = self._regions()
        lo, hi = math.log(regions.low), math.log(regions.high)
        u = (math.log(max(target, 1e-9)) - lo) / max(hi - lo, 1e-12)
        return torch.tensor([u], dtype=torch.float32, device=self._bound().device)

    def band(self, target: float) -> tuple[float, float]:
        """The complexity interval a generated arch must land in: ``target`` +- ``tolerance``."""
        return target / (1 + self.tolerance), target * (1 + self.tolerance)

    def _decode(self, logits: list[torch.Tensor], band: tuple[float, float],
                pick: Callable[[torch.Tensor], torch.Tensor]) -> list[torch.Tensor]:
        return decode(logits, list(self.model.coef.values()), self.model.base, *band, pick)

    @torch.no_grad()
    def generate(self, target: float, noise: bool = True,
                 band: tuple[float, float] | None = None) -> Sample:
        """The generator's arch for ``target`` complexity, inside ``band`` (default
        :meth:`band`); noise-free (zero noise, argmax) with ``noise=False``."""
        z = (self.generator.noise(1, self.noise) if noise
             else torch.zeros(1, self.generator.noise_dim, device=self._bound().device))
        logits = self.generator(self.scaled(target), z)
        rows = self._decode(logits, band or self.band(target),
                            hard_pick(self.noise if noise else None))
        return self.space.from_vector([int(row[0].argmax()) for row in rows])

    # -- learning ------------------------------------------------------------------------------
    def observe(self, feedback: StepFeedback) -> None:
        if self.estimator == "train" and self.context is not None:
            self._epoch_stats["losses"][self.region_of(feedback.arch)].append(feedback.loss)

    def on_epoch_end(self, epoch: int) -> None:
        start = time.perf_counter()
        variation = self.variation()
        self.smoothed = variation if self.smoothed is None else [
            self.smoothing * old + (1 - self.smoothing) * new if math.isfinite(new) else old
            for old, new in zip(self.smoothed, variation)]
        shifted = epoch + 1 >= self.shift_start
        if shifted:
            self.shift(self.smoothed)
        generator = self.train_generator() if self.generator_steps else None
        self._log.append({**self._record(epoch, variation, shifted, generator),
                          "learning_seconds": time.perf_counter() - start})
        self._epoch_stats = self._fresh_stats()

    def variation(self) -> list[float]:
        """Per region: the spread of subnet losses (``nan`` where it cannot be measured)."""
        if self.estimator == "train":
            return [statistics.stdev(x) if len(x) > 1 else math.nan
                    for x in self._epoch_stats["losses"]]
        context, valid = self._bound(), self._bound().require_valid("shiftnas")
        batches = [valid(self.valid_draws + i) for i in range(self.score_batches)]
        self.valid_draws += self.score_batches
        spread = []
        for b in range(len(self._regions())):
            losses = [statistics.mean(context.score(arch, batch)[1] for batch in batches)
                      for arch in (self.uniform_in(b) for _ in range(self.archs_per_region))]
            spread.append(statistics.stdev(losses))
        return spread

    def train_generator(self) -> dict[str, float]:
        """``generator_steps`` Adam steps on held-out batches (supernet weights untouched)."""
        from ..evaluate import BatchStatistics

        context = self._bound()
        valid = context.require_valid("shiftnas")
        supernet, was_training = context.supernet, context.supernet.training
        if not isinstance(supernet, MixtureSupernet):
            raise ConfigError(f"the ShiftNAS generator trains through a mixture forward, which "
                              f"{type(supernet).__name__} lacks; set sampler.options."
                              "generator_steps=0 (region shift only) or use a MixtureSupernet")
        totals = {"loss": 0.0, "cross_entropy": 0.0, "penalty": 0.0}
        supernet.eval()
        try:
            with BatchStatistics().scoring(supernet, {}):
                for _ in range(self.generator_steps):
                    x, y = valid(self.valid_draws)
                    self.valid_draws += 1
                    for key, value in self._generator_step(supernet, x, y).items():
                        totals[key] += value / self.generator_steps
        finally:
            supernet.train(was_training)
        self.generator_ready = True
        return totals

    def _generator_step(self, supernet: Any, x: torch.Tensor, y: torch.Tensor
                        ) -> dict[str, float]:
        parts = list(zip(x.chunk(self.chunks), y.chunk(self.chunks)))
        probs = self.probabilities()
        ce_sum = pen_sum = torch.zeros((), device=x.device)
        for xc, yc in parts:
            target = self._target(self.rng.choices(range(len(probs)), weights=probs)[0])
            logits = self.generator(self.scaled(target), self.generator.noise(1, self.noise))
            onehot = self._decode(logits, self.band(target), lambda row: straight_through(
                row, self.noise, self.temperature))
            mixture = {label: row[0] for label, row in zip(self.space.decisions, onehot)}
            ce_sum = ce_sum + F.cross_entropy(supernet.forward_mixture(xc, mixture).float(), yc)
            # the unmasked distribution's expected complexity: a deterministic gradient that
            # teaches the logits themselves the target (the mask then rarely has to act)
            expected = self.model.expected([row.softmax(-1) for row in logits])[0]
            pen_sum = pen_sum + (expected.clamp_min(1e-9).log() - math.log(target)) ** 2
        ce, penalty = ce_sum / len(parts), pen_sum / len(parts)
        loss = ce + self.complexity_weight * penalty
        params = list(self.generator.parameters())
        for p, g in zip(params, torch.autograd.grad(loss, params)):
            p.grad = g
        self.optimizer.step()
        return {"loss": loss.item(), "cross_entropy": ce.item(), "penalty": penalty.item()}

    # -- budget queries --------------------------------------------------------------------------
    def propose(self, fits: Callable[[Sample], bool], per_target: int = 6, targets: int = 24,
                keep: int = 3) -> list[Sample]:
        """Generator archs that ``fits`` accepts, for the largest targets that yield any.

        Targets step down (log-evenly) from the largest sampled complexity. At each, the
        noise-free arch is tried; from the first target where it fits on, ``per_target - 1``
        noisy ones too, for ``keep`` targets. The model's smallest arch joins if it fits.
        """
        regions, found, hits = self._regions(), [], 0
        lo, hi = math.log(regions.low), math.log(regions.high)
        for i in range(targets):
            target = math.exp(hi - (hi - lo) * i / (targets - 1))
            first = self.generate(target, noise=False)
            if not (hits or fits(first)):
                continue
            batch = [first] + [self.generate(target) for _ in range(per_target - 1)]
            found += [a for a in batch if fits(a)]
            hits += 1
            if hits >= keep:
                break
        if fits(self.smallest()):
            found.append(self.smallest())
        unique = {self.space.encode(a): a for a in found}
        return list(unique.values())

    def smallest(self) -> Sample:
        """The smallest arch by the complexity model (exactly the smallest when additive)."""
        self._regions()
        return self.model.smallest()

    # -- logging and state ---------------------------------------------------------------------
    def _record(self, epoch: int, variation: list[float], shifted: bool,
                generator: dict[str, float] | None) -> dict[str, Any]:
        stats, steps = self._epoch_stats, self._epoch_stats["steps"]
        calibration = stats["calibration"]
        return {"epoch": epoch, "metric": self.metric, "edges": list(self._regions().edges),
                "prior": list(self._regions().prior), "probs": self.probabilities(),
                "theta": list(self.theta), "shifted": shifted,
                "variation": [_json_float(v) for v in variation],
                "smoothed": [_json_float(v) for v in self.smoothed or []],
                "steps": list(steps),
                "steps_fraction": [s / max(sum(steps), 1) for s in steps],
                "generated_steps": stats["generated"],
                "calibration_error": statistics.mean(calibration) if calibration else None,
                "generator": generator}

    def epoch_log(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._log[-1]) if self._log else None

    def plot_log(self, records: list[dict[str, Any]], path: Path) -> bool:
        if records:
            shiftnas_regions(records, path)
        return bool(records)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "noise": self.noise.get_state(),
                "model": self.model.state() if self.model else None,
                "regions": self.regions.state() if self.regions else None,
                "theta": list(self.theta), "smoothed": copy.copy(self.smoothed),
                "generator_ready": self.generator_ready, "valid_draws": self.valid_draws,
                "generator": {k: v.detach().cpu().clone()
                              for k, v in self.generator.state_dict().items()},
                "optimizer": copy.deepcopy(self.optimizer.state_dict()),
                "epoch_stats": copy.deepcopy(self._epoch_stats), "log": copy.deepcopy(self._log)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.noise.set_state(state["noise"])
        self.model = LinearComplexity(**state["model"]) if state["model"] else None
        self.regions = Regions(**state["regions"]) if state["regions"] else None
        self.theta, self.smoothed = list(state["theta"]), copy.copy(state["smoothed"])
        self.generator_ready, self.valid_draws = state["generator_ready"], state["valid_draws"]
        self.generator.load_state_dict(state["generator"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._epoch_stats = copy.deepcopy(state["epoch_stats"])
        self._log = copy.deepcopy(state["log"])

    def distribution_log(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._log)


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None
