"""Supernet training: one sampled subnet per step, checkpointed every epoch.

The trainer knows nothing about which sampler or sharing mechanism it drives;
it asks the sampler for an arch, trains that path, and reports back.
"""
from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import torch

from .checkpoint import atomic_write_text, check_finite, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .device import autocast, tune_cpu_allocator
from .distributed import is_writer
from .errors import TrainingError
from .parallel import step_runner
from .progress import progress_bar
from .samplers.base import Sampler, SamplerContext, StepFeedback
from .supernet.base import Supernet

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"

ParamLineage = Mapping[torch.nn.Parameter, torch.nn.Parameter]
"""new parameter -> the parameter whose optimizer state (momentum) it continues."""

EpochCallback = Callable[[int, Supernet], "dict[str, Any] | None"]
"""(epoch just finished, 0-based; the supernet) -> fields for the epoch's metrics record.

Called after the epoch's reshaping and before its checkpoint; it must leave the supernet's
weights, buffers, mode and every random stream as it found them (see ``tracking``)."""


@dataclass
class EpochEnd:
    """What a callback that reshapes the supernet between epochs may use (see :class:`EpochAware`).

    ``loader`` still yields the batches of the epoch that just ended, deterministically.
    """

    epoch: int  # the epoch just finished, 0-based
    epochs: int  # the run's length
    loader: Any
    out_dir: Path


@runtime_checkable
class EpochAware(Protocol):
    """A trainer callback that may change the supernet's parameters at epoch ends (e.g.
    few-shot splitting, :class:`~nasengine.fewshot.callback.FewShotSplitting`).

    It returns the lineage of any parameters it created, or None if it changed nothing;
    the trainer then points the optimizer at the new parameters. The supernet's structure
    must be part of its ``state_dict`` so that a resumed run rebuilds it before loading
    weights.
    """

    def on_epoch_end(self, end: EpochEnd) -> ParamLineage | None: ...


class Trainer:
    """SGD (Nesterov) + cosine LR + weight decay + grad clipping, resumable per epoch."""

    def __init__(self, supernet: Supernet, sampler: Sampler, loader: Any, config: TrainConfig,
                 out_dir: str | Path, fingerprint: dict[str, Any],
                 device: torch.device = torch.device("cpu"), progress: bool = True,
                 context: SamplerContext | None = None,
                 callbacks: Sequence[EpochCallback] = (),
                 reshapers: Sequence[EpochAware] = ()) -> None:
        self.supernet = supernet.to(device)
        if config.channels_last:
            self.supernet.to(memory_format=torch.channels_last)
        self.sampler, self.loader, self.config = sampler, loader, config
        self.out_dir, self.fingerprint = Path(out_dir), fingerprint
        self.device, self.progress = device, progress
        self.context, self.callbacks = context, list(callbacks)
        self.reshapers = list(reshapers)
        self.runner = step_runner(config.data_parallel, device,
                                  lambda: autocast(device, config.amp), config.sync_bn)
        self.optimizer = torch.optim.SGD(supernet.parameters(), lr=config.lr,
                                         momentum=config.momentum, nesterov=config.nesterov,
                                         weight_decay=config.weight_decay)
        total_steps = max(1, config.epochs * len(loader))
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimizer, T_max=total_steps, eta_min=config.lr_min)
        self.epoch, self.step = 0, 0
        self.history: list[dict[str, Any]] = []

    # -- state ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "model": self.supernet.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "sampler": self.sampler.state_dict(), "torch_rng": torch.get_rng_state(),
                "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.supernet.load_state_dict(state["model"])
        self.adopt_parameters()  # loading may have rebuilt a reshaped supernet
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.history = list(state["history"])

    def adopt_parameters(self, lineage: ParamLineage | None = None) -> None:
        """Point the optimizer at the supernet's current parameters.

        A new parameter starts from a copy of its lineage source's optimizer state;
        parameters the supernet dropped lose theirs. The LR schedule is untouched.
        """
        lineage = lineage or {}
        groups = self.optimizer.param_groups
        home = {id(p): i for i, g in enumerate(groups) for p in g["params"]}
        members: list[list[torch.nn.Parameter]] = [[] for _ in groups]
        old, state = self.optimizer.state, defaultdict(dict)
        for p in self.supernet.parameters():
            source = lineage.get(p, p)
            members[home.get(id(source), 0)].append(p)  # a copy joins its source's group
            if source in old:
                state[p] = {k: v.clone() if torch.is_tensor(v) else v
                            for k, v in old[source].items()}
        for group, params in zip(groups, members):
            group["params"] = params
        self.optimizer.state = state

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT

    # -- training --------------------------------------------------------------
    def fit(self, resume: bool = False, stop_after: int | None = None) -> list[dict[str, Any]]:
        """Train to ``config.epochs`` (from the last checkpoint if ``resume``).

        ``stop_after`` ends after that many epochs in this call (used to test resume).
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.restore()
        if self.context is not None:
            self.sampler.bind(self.context)
        self.sampler.on_train_start(self.config.epochs)
        if self.device.type == "cpu":
            tune_cpu_allocator()
        with self.runner.session():
            self._fit_epochs(stop_after)
        return self.history

    def restore(self) -> bool:
        """Continue from the checkpoint in the run folder, if there is one (True if loaded)."""
        if not self.checkpoint_path.exists():
            return False
        state = load_checkpoint(self.checkpoint_path, self.fingerprint)
        check_finite(state["model"], self.checkpoint_path)
        self.load_state_dict(state)
        return True

    def _fit_epochs(self, stop_after: int | None) -> None:
        done_here = 0
        while self.epoch < self.config.epochs and (stop_after is None or done_here < stop_after):
            record = self._train_epoch(self.epoch)
            self.sampler.on_epoch_end(self.epoch)
            sampler_log = self.sampler.epoch_log()
            if sampler_log is not None:
                record["sampler"] = sampler_log
            self.history.append(record)
            self._end_epoch(self.epoch)
            for callback in self.callbacks:
                record.update(callback(self.epoch, self.supernet) or {})
            self.epoch += 1
            done_here += 1
            if is_writer():  # under torchrun, rank 0; the others hold the same state
                save_checkpoint(self.checkpoint_path, self.state_dict(), self.fingerprint)
                atomic_write_text(self.out_dir / METRICS,
                                  "".join(json.dumps(r) + "\n" for r in self.history))

    def _train_epoch(self, epoch: int) -> dict[str, Any]:
        self.supernet.train()
        self.sampler.on_epoch_start(epoch)
        self.loader.set_epoch(epoch, index_sampler=self.sampler.index_sampler())
        seen = correct = 0
        loss_sum = 0.0
        start = time.perf_counter()
        bar = progress_bar(self.loader, desc=f"epoch {epoch + 1}/{self.config.epochs}",
                           enabled=self.progress and is_writer(), unit="batch")
        for batch in bar:
            loss, hits, n = self._train_step(epoch, *batch)
            seen, correct, loss_sum = seen + n, correct + hits, loss_sum + loss * n
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{100 * correct / seen:.1f}",
                            img_s=f"{seen / (time.perf_counter() - start):.0f}")
        elapsed = time.perf_counter() - start
        return {"epoch": epoch + 1, "step": self.step, "loss": loss_sum / max(seen, 1),
                "train_acc": 100.0 * correct / max(seen, 1), "lr": self.scheduler.get_last_lr()[0],
                "seconds": elapsed, "images_per_s": seen / max(elapsed, 1e-9)}

    def _end_epoch(self, epoch: int) -> None:
        """Let the reshaping callbacks act (before the checkpoint, so resume sees it)."""
        for reshaper in self.reshapers:
            lineage = reshaper.on_epoch_end(
                EpochEnd(epoch, self.config.epochs, self.loader, self.out_dir))
            if lineage is not None:
                self.adopt_parameters(lineage)

    def _train_step(self, epoch: int, x: torch.Tensor, y: torch.Tensor,
                    indices: torch.Tensor | None = None) -> tuple[float, int, int]:
        arch = self.sampler.sample()
        self.optimizer.zero_grad(set_to_none=True)
        weights = self.sampler.loss_weights(arch, indices)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        out = self.runner.run(self.supernet, params, arch, x, y, weights)
        logits = out.logits
        value = out.per_example.mean().item()  # what the log reports, weighted or not
        if not math.isfinite(value):  # before the optimizer touches the weights
            kept = (f"the last good checkpoint is {self.checkpoint_path}"
                    if self.checkpoint_path.exists() else "no checkpoint was written yet")
            raise TrainingError(
                f"loss became {value} at epoch {epoch + 1}, step {self.step} (arch {arch}); lower "
                f"train.lr (now {self.config.lr}) or set train.grad_clip; {kept}")
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.sampler.observe(StepFeedback(arch, value, logits, y, indices, self.supernet))
        self.step += 1
        return value, int((logits.argmax(1) == y).sum()), len(y)


def read_metrics(out_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(out_dir) / METRICS
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
