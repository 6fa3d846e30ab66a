"""ENAS (Pham et al., 2018): archs come from a controller trained by REINFORCE.

During each epoch every training step trains the path the controller samples (no
gradient to the controller). After the epoch (:meth:`EnasSampler.on_epoch_end`) the
controller learns: ``controller_steps`` Adam steps, each aggregating ``aggregate``
samples. A sample's reward is the supernet's top-1 fraction on one batch of the
held-out split of the training set (``data.valid_images``; BN on the batch's own
statistics, :meth:`SamplerContext.score`) plus ``entropy_weight`` times its entropy
(detached, as in ENAS). The baseline is a moving average initialised to the first
accuracy and updated before each advantage, ``b <- b - (1 - decay)(b - R)``; the
loss is ``-log pi(a) (R - b) / aggregate``, then gradient clipping and Adam
(lr 1e-3, betas (0, 0.999), eps 1e-3). Defaults are AutoDL's NB201 settings
(50 x 20 samples per epoch; docs/algorithms.md section 7.1).

``memory_buffer=True`` adds Adam & Lorraine's fix (section 7.2): from
``buffer_start_epoch`` each epoch's controller samples (with their rewards) go into a
:class:`MemoryBuffer` of ``buffer_capacity`` (``buffer_replace`` random entries
renewed per epoch once full), and from ``sup_start_epoch`` every controller step adds
``sup_weight`` times the teacher-forced negative log-likelihood of ``sup_batch``
replayed archs: ``L = L_PG + lambda L_Sup``. Epochs are the trainer's 0-based indices.

Everything random (draws, replay batches, buffer slots) comes from one CPU generator
seeded by the sampler seed; it is checkpointed with the controller, its optimiser,
the baseline and the count of validation batches used, so a resumed run is exact.
"""
from __future__ import annotations

import copy
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..plots import enas_controller
from ..space import Sample, SearchSpace
from ..validation import Rule, above, at_least, between
from .base import SAMPLERS, Sampler, SamplerContext, check_option_ranges
from .buffer import MemoryBuffer
from .controller import Controller, Draw

#: ranges of the options (their types are checked from the signature by ``SAMPLERS.create``);
#: a count of 0 switches a phase or a schedule's delay off
OPTION_RULES: dict[str, Rule] = {
    **dict.fromkeys(("hidden", "layers", "aggregate", "buffer_capacity", "sup_batch"),
                    at_least(1)),
    **dict.fromkeys(("controller_steps", "buffer_replace", "buffer_start_epoch",
                     "sup_start_epoch", "entropy_weight", "sup_weight"), at_least(0)),
    **dict.fromkeys(("tanh_constant", "temperature", "lr", "grad_clip"), above(0)),
    "baseline_decay": between(0, 1, closed=False)}


@SAMPLERS.register("enas")
class EnasSampler(Sampler):
    """The ENAS controller as a sampler (optionally with the memory-buffer objective).

    Args:
        hidden, layers: LSTM size (AutoDL: 32, 2).
        tanh_constant, temperature: logits ``tanh_constant * tanh(logits / temperature)``.
        lr, grad_clip: Adam learning rate and controller gradient clip.
        controller_steps, aggregate: Adam steps per epoch and samples per step.
        entropy_weight, baseline_decay: reward bonus and moving-average decay.
        memory_buffer: add the reconstruction objective; the ``buffer_*`` and ``sup_*``
            options set its schedule and sizes (defaults: the paper's).
    """

    def __init__(self, space: SearchSpace, seed: int = 0, *, hidden: int = 32, layers: int = 2,
                 tanh_constant: float = 2.5, temperature: float = 5.0, lr: float = 1e-3,
                 grad_clip: float = 5.0, controller_steps: int = 50, aggregate: int = 20,
                 entropy_weight: float = 1e-4, baseline_decay: float = 0.99,
                 memory_buffer: bool = False, buffer_start_epoch: int = 5,
                 buffer_capacity: int = 10_000, buffer_replace: int = 100,
                 sup_start_epoch: int = 10, sup_batch: int = 100, sup_weight: float = 1.0) -> None:
        super().__init__(space, seed)
        check_option_ranges(
            OPTION_RULES, hidden=hidden, layers=layers, aggregate=aggregate,
            buffer_capacity=buffer_capacity, sup_batch=sup_batch,
            controller_steps=controller_steps, buffer_replace=buffer_replace,
            buffer_start_epoch=buffer_start_epoch, sup_start_epoch=sup_start_epoch,
            entropy_weight=entropy_weight, sup_weight=sup_weight, tanh_constant=tanh_constant,
            temperature=temperature, lr=lr, grad_clip=grad_clip, baseline_decay=baseline_decay)
        self.options = {"lr": lr, "grad_clip": grad_clip, "controller_steps": controller_steps,
                        "aggregate": aggregate, "entropy_weight": entropy_weight,
                        "baseline_decay": baseline_decay, "buffer_start_epoch": buffer_start_epoch,
                        "sup_start_epoch": sup_start_epoch, "sup_batch": sup_batch,
                        "sup_weight": sup_weight}
        self.controller = Controller(space, hidden, layers, tanh_constant, temperature, seed)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr, betas=(0.0, 0.999),
                                          eps=1e-3)
        self.buffer = (MemoryBuffer(self.controller.decisions, buffer_capacity, buffer_replace)
                       if memory_buffer else None)
        self.generator = torch.Generator().manual_seed(seed)
        self.baseline: float | None = None
        self.valid_drawn = 0  # validation batches used so far (the k of valid_batch(k))
        self._context: SamplerContext | None = None
        self._log: list[dict[str, Any]] = []

    # -- sampling ----------------------------------------------------------------
    def to_arch(self, row: torch.Tensor) -> Sample:
        return self.space.from_vector(row.tolist())

    @torch.no_grad()
    def draw(self, n: int, generator: torch.Generator | None = None) -> list[Sample]:
        """``n`` archs from the current controller (its own generator unless given one)."""
        rows = self.controller.sample(n, generator or self.generator).archs
        return [self.to_arch(row) for row in rows]

    def sample(self) -> Sample:
        return self.draw(1)[0]

    def encode(self, archs: list[Sample]) -> torch.Tensor:
        """Archs as the controller's (B, T) index tensor."""
        return torch.tensor([self.space.to_vector(a) for a in archs], dtype=torch.long)

    # -- learning ------------------------------------------------------------------
    def bind(self, context: SamplerContext) -> None:
        context.require_valid("enas")
        self._context = context

    def on_epoch_end(self, epoch: int) -> None:
        """The controller phase: REINFORCE steps on validation batches (+ reconstruction)."""
        if self._context is None:
            raise ConfigError("the enas sampler learns from the supernet after each epoch but was "
                              "never bound to it; train it through nasengine's trainer "
                              "(api.train / nasengine train)")
        o = self.options
        sup = self.buffer is not None and epoch >= o["sup_start_epoch"] and len(self.buffer) > 0
        draws, rewards, sup_losses = [], [], []
        self.controller.train()
        for _ in range(o["controller_steps"]):
            self.optimizer.zero_grad(set_to_none=True)
            draw = self.controller.sample(o["aggregate"], self.generator)
            accuracy = self._score(draw)
            loss = self._policy_loss(draw, accuracy)
            if sup:
                sup_loss = self.reconstruction_loss(self.buffer.replay(o["sup_batch"],
                                                                       self.generator))
                loss = loss + o["sup_weight"] * sup_loss
                sup_losses.append(sup_loss.item())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.controller.parameters(), o["grad_clip"])
            self.optimizer.step()
            draws.append(draw)
            rewards.append(accuracy)
        self._remember(epoch, draws, rewards, sup_losses)

    def _score(self, draw: Draw) -> torch.Tensor:
        """Top-1 fraction of each drawn arch, each on the next validation batch."""
        valid, scores = self._context.require_valid("enas"), []
        for row in draw.archs:
            scores.append(self._context.score(self.to_arch(row), valid(self.valid_drawn))[0])
            self.valid_drawn += 1
        return torch.tensor(scores, dtype=torch.float64)

    def _policy_loss(self, draw: Draw, accuracy: torch.Tensor) -> torch.Tensor:
        """REINFORCE with the moving-average baseline, one sample after the other."""
        decay, weight = self.options["baseline_decay"], self.options["entropy_weight"]
        advantages = []
        for acc, entropy in zip(accuracy.tolist(), draw.entropy.detach().tolist()):
            reward = acc + weight * entropy
            self.baseline = acc if self.baseline is None else \
                self.baseline - (1 - decay) * (self.baseline - reward)
            advantages.append(reward - self.baseline)
        adv = torch.tensor(advantages, dtype=draw.log_prob.dtype)
        return -(draw.log_prob * adv).sum() / len(adv)

    def reconstruction_loss(self, archs: torch.Tensor) -> torch.Tensor:
        """Mean teacher-forced negative log-likelihood of ``archs`` (the self-supervised term)."""
        return -self.controller.log_prob(archs).mean()

    def _remember(self, epoch: int, draws: list[Draw], rewards: list[torch.Tensor],
                  sup_losses: list[float]) -> None:
        """Store the epoch's samples in the buffer and log what the controller did."""
        archs = torch.cat([d.archs for d in draws]) if draws else torch.empty(0, 0)
        if self.buffer is not None and epoch >= self.options["buffer_start_epoch"] and draws:
            self.buffer.store(archs, torch.cat(rewards), self.generator)
        record: dict[str, Any] = {"epoch": epoch, "samples": len(archs),
                                  "baseline": self.baseline}
        if draws:
            counts = Counter(map(tuple, archs.tolist()))
            top, freq = counts.most_common(1)[0]
            record.update({
                "reward": torch.cat(rewards).mean().item(),
                "entropy": torch.cat([d.entropy.detach() for d in draws]).mean().item(),
                "distinct": len(counts) / len(archs),
                "top_arch": self.space.format(self.space.from_vector(list(top))),
                "top_fraction": freq / len(archs)})
        if self.buffer is not None:
            record["buffer"] = len(self.buffer)
            record["sup_loss"] = statistics.mean(sup_losses) if sup_losses else None
        self._log.append(record)

    # -- logs ----------------------------------------------------------------------
    def epoch_log(self) -> dict[str, Any] | None:
        return dict(self._log[-1]) if self._log else None

    def plot_log(self, records: list[dict[str, Any]], path: Path) -> bool:
        records = [r for r in records if "reward" in r]
        if not records:
            return False
        enas_controller(records, path)
        return True

    # -- state -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "controller": copy.deepcopy(self.controller.state_dict()),
                "optimizer": copy.deepcopy(self.optimizer.state_dict()),
                "generator": self.generator.get_state(), "baseline": self.baseline,
                "valid_drawn": self.valid_drawn, "log": copy.deepcopy(self._log),
                "buffer": self.buffer.state_dict() if self.buffer is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.baseline, self.valid_drawn = state["baseline"], state["valid_drawn"]
        self._log = copy.deepcopy(state["log"])
        if (state["buffer"] is None) != (self.buffer is None):
            raise ConfigError("the checkpoint's enas sampler and this one differ in "
                              "sampler.options.memory_buffer; resume with the same options")
        if self.buffer is not None:
            self.buffer.load_state_dict(state["buffer"])

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the bound supernet (a copy is re-bound by its own trainer)."""
        state = dict(self.__dict__)
        state["_context"] = None
        state["generator"] = self.generator.get_state()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        generator = torch.Generator()
        generator.set_state(state["generator"])
        self.__dict__.update({**state, "generator": generator})
