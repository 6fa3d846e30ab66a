"""DARTS-style gradient-based search over alpha on a :class:`MixtureSupernet`.

The supernet runs the continuous relaxation of its space (on an entangled supernet,
one pass per layer); alpha and the weights are trained by gradient descent and the
argmax of alpha is the found architecture. Two modes, both first-order (no unrolled
second-order term, which DARTS found barely helps at twice the cost):

* ``bilevel``: alternate an alpha step on a validation batch and a weight step on a
  training batch (DARTS's first-order approximation of the bilevel problem);
* ``single_level``: alpha and weights step together on the same training batch.
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import ConfigError, TrainingError
from ...space import Sample, SearchSpace
from ...supernet.base import MixtureSupernet
from .alpha import RELAXATIONS, ArchParameters

MODES = ("bilevel", "single_level")
Batch = tuple[torch.Tensor, ...]


@dataclass
class DartsConfig:
    """Search hyper-parameters (DARTS defaults for the optimisers).

    ``temperature_end`` anneals the temperature linearly over the run (GDAS uses
    10 -> 0.1 with ``relaxation="gumbel"``); None keeps it constant. ``alpha_lr`` is
    DARTS's 3e-4 (Adam, betas (0.5, 0.999), weight decay 1e-3), which DrNAS and few-shot
    NAS keep (docs/algorithms.md); a short CPU run moves alpha little at it, and a larger
    rate is an explicit ``--option alpha_lr=...``, not a second default.
    """

    epochs: int = 1
    mode: str = "bilevel"
    relaxation: str = "softmax"
    temperature: float = 1.0
    temperature_end: float | None = None
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    alpha_lr: float = 3e-4
    alpha_weight_decay: float = 1e-3
    grad_clip: float = 5.0
    one_pass: bool = True
    log_every: int = 5

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown search mode {self.mode!r}; choose one of "
                              f"{', '.join(MODES)}")
        RELAXATIONS.get(self.relaxation)  # raises ConfigError listing the known ones
        for name in ("epochs", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"search {name} must be >= 1, got {getattr(self, name)}")
        for name in ("temperature", "temperature_end", "w_lr", "alpha_lr"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"search {name} must be > 0, got {value}")


class DartsSearch:
    """Alternating (or joint) optimisation of weights and alpha; ``fit`` returns the history."""

    def __init__(self, supernet: MixtureSupernet, config: DartsConfig | None = None, *,
                 seed: int = 0, device: torch.device | str = "cpu") -> None:
        if not isinstance(supernet, MixtureSupernet):
            raise ConfigError(f"{type(supernet).__name__} has no mixture forward; gradient-based "
                              "search needs a MixtureSupernet (e.g. the macro space's)")
        self.device = torch.device(device)
        self.supernet = supernet.to(self.device)
        self.config = config or DartsConfig()
        self.alphas = ArchParameters(supernet.space, seed=seed).to(self.device)
        c = self.config
        self.w_optimizer = torch.optim.SGD(supernet.parameters(), lr=c.w_lr, momentum=c.w_momentum,
                                           weight_decay=c.w_weight_decay)
        self.alpha_optimizer = torch.optim.Adam(self.alphas.parameters(), lr=c.alpha_lr,
                                                betas=(0.5, 0.999),
                                                weight_decay=c.alpha_weight_decay)
        self.step, self.total_steps = 0, 1
        self.history: list[dict[str, Any]] = []
        self.trajectory: list[dict[str, Any]] = []

    # -- the run -------------------------------------------------------------------
    def fit(self, train: Iterable[Batch], valid: Iterable[Batch] | None = None
            ) -> list[dict[str, Any]]:
        """Search for ``config.epochs`` epochs; ``valid`` is required in bilevel mode.

        ``train`` needs a length (a list of batches or a TensorLoader) for the LR schedule;
        ``valid`` is cycled as long as needed.
        """
        if self.config.mode == "bilevel" and valid is None:
            raise ConfigError("bilevel search trains alpha on a validation split: pass valid "
                              "batches, or use mode='single_level'")
        self.total_steps = max(1, self.config.epochs * len(train))  # type: ignore[arg-type]
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.w_optimizer, T_max=self.total_steps, eta_min=self.config.w_lr_min)
        valid_stream = _cycle(valid) if valid is not None else None
        self._log_alphas(epoch=0)
        for epoch in range(self.config.epochs):
            if hasattr(train, "set_epoch"):
                train.set_epoch(epoch)
            self.history.append(self._epoch(epoch, train, valid_stream, scheduler))
        return self.history

    def _epoch(self, epoch: int, train: Iterable[Batch], valid: Iterator[Batch] | None,
               scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
        self.supernet.train()
        seen = correct = 0
        loss_sum, start = 0.0, time.perf_counter()
        for batch in train:
            x, y = batch[0].to(self.device), batch[1].to(self.device)
            if valid is not None:
                vx, vy = (t.to(self.device) for t in next(valid)[:2])
                self._alpha_step(vx, vy)
            loss, hits = self._weight_step(x, y, update_alpha=valid is None)
            scheduler.step()
            self.step += 1
            seen, correct, loss_sum = seen + len(y), correct + hits, loss_sum + loss * len(y)
            if self.step % self.config.log_every == 0:
                self._log_alphas(epoch)
        self._log_alphas(epoch)
        return {"epoch": epoch + 1, "step": self.step, "loss": loss_sum / max(seen, 1),
                "train_acc": 100.0 * correct / max(seen, 1), "temperature": self.temperature(),
                "seconds": time.perf_counter() - start, "arch": self.arch()}

    def _alpha_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.alpha_optimizer.zero_grad(set_to_none=True)
        loss = self._loss(x, y)[0]
        loss.backward()
        self.alpha_optimizer.step()
        self.w_optimizer.zero_grad(set_to_none=True)  # the weights learn on train data only

    def _weight_step(self, x: torch.Tensor, y: torch.Tensor, update_alpha: bool
                     ) -> tuple[float, int]:
        self.w_optimizer.zero_grad(set_to_none=True)
        self.alpha_optimizer.zero_grad(set_to_none=True)
        loss, logits = self._loss(x, y, detach_alpha=not update_alpha)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.w_optimizer.step()
        if update_alpha:
            self.alpha_optimizer.step()
        return loss.item(), int((logits.argmax(1) == y).sum())

    def _loss(self, x: torch.Tensor, y: torch.Tensor, detach_alpha: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor]:
        weights = self.alphas.weights(self.config.relaxation, self.temperature())
        if detach_alpha:
            weights = {k: v.detach() for k, v in weights.items()}
        logits = self.supernet.forward_mixture(x, weights, one_pass=self.config.one_pass)
        loss = F.cross_entropy(logits, y)
        if not math.isfinite(loss.item()):
            raise TrainingError(f"search loss became {loss.item()} at step {self.step}; lower "
                                f"w_lr (now {self.config.w_lr}) or alpha_lr "
                                f"(now {self.config.alpha_lr})")
        return loss, logits

    # -- state ---------------------------------------------------------------------------
    def temperature(self) -> float:
        c = self.config
        if c.temperature_end is None:
            return c.temperature
        frac = min(1.0, self.step / self.total_steps)
        return c.temperature + frac * (c.temperature_end - c.temperature)

    def arch(self) -> Sample:
        """The current discrete architecture (argmax of alpha), canonicalised."""
        return self.supernet.canonical(self.alphas.discretize())

    def _log_alphas(self, epoch: int) -> None:
        self.trajectory.append({"step": self.step, "epoch": epoch,
                                "probs": self.alphas.probabilities()})

    def write(self, out_dir: str | Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write result.json, alphas.jsonl and the alpha-trajectory plots; return the result."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result = {"arch": self.arch(), "arch_string": self.supernet.space.format(self.arch()),
                  "config": asdict(self.config), "history": self.history, **(extra or {})}
        (out / "result.json").write_text(json.dumps(result, indent=2, default=str))
        (out / "alphas.jsonl").write_text("".join(json.dumps(r) + "\n" for r in self.trajectory))
        result["plots"] = [str(p) for p in plot_trajectories(self.trajectory, out,
                                                              self.supernet.space)]
        return result


def _cycle(batches: Iterable[Batch]) -> Iterator[Batch]:
    """Endless batches, restarting the iterable (a new epoch for a TensorLoader)."""
    epoch = 0
    while True:
        if hasattr(batches, "set_epoch"):
            batches.set_epoch(epoch)
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty:
            raise ConfigError("the validation batches are empty; give the valid split at least "
                              "one full batch")
        epoch += 1


def plot_trajectories(trajectory: list[dict[str, Any]], out_dir: Path,
                      space: SearchSpace) -> list[Path]:
    """One figure per decision kind (e.g. kernel, expand, depth): mean +- std over decisions.

    A decision's kind is the part of its label after the last '.'; labels without a dot
    (NB201 edges) form one kind.
    """
    from ...plots import line_plot

    steps = [r["step"] for r in trajectory]
    kinds: dict[str, list[str]] = {}
    for label in trajectory[0]["probs"]:
        kinds.setdefault(label.rsplit(".", 1)[-1] if "." in label else "choice", []).append(label)
    paths = []
    for kind, labels in kinds.items():
        probs = torch.tensor([[r["probs"][label] for label in labels] for r in trajectory])
        values = space.decisions[labels[0]].values
        series = {f"{kind}={v}": (probs[:, :, i].mean(1).tolist(),
                                  probs[:, :, i].std(1, unbiased=False).tolist())
                  for i, v in enumerate(values)}
        paths.append(line_plot(steps, series, out_dir / f"alpha_{kind}.png", xlabel="step",
                               ylabel="softmax(alpha)", title=f"alpha trajectories: {kind} "
                               f"({len(labels)} decisions, mean ± std)"))
    return paths
