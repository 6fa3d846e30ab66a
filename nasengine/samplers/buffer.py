"""Adam & Lorraine's memory buffer: earlier sampled archs, replayed for reconstruction.

The buffer fills with the controller's samples until ``capacity``; once full, each
``store`` overwrites only ``replace`` random entries with the newest samples (the
paper: 10,000 archs, 100 replaced per epoch), so it keeps a slowly moving memory of
what the controller proposed. All randomness comes from the caller's generator, which
the sampler checkpoints, so a resumed run replays the same batches.
"""
from __future__ import annotations

from typing import Any

import torch


class MemoryBuffer:
    """Archs (choice-index rows) with their rewards."""

    def __init__(self, decisions: int, capacity: int, replace: int) -> None:
        self.capacity, self.replace = capacity, replace
        self.archs = torch.empty(0, decisions, dtype=torch.long)
        self.rewards = torch.empty(0, dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.archs)

    def store(self, archs: torch.Tensor, rewards: torch.Tensor,
              generator: torch.Generator) -> None:
        """Append while there is room; when already full, overwrite ``replace`` random rows."""
        archs, rewards = archs.long(), rewards.double()
        room = self.capacity - len(self)
        if room > 0:
            self.archs = torch.cat([self.archs, archs[:room]])
            self.rewards = torch.cat([self.rewards, rewards[:room]])
            return
        k = min(self.replace, len(archs))
        slots = torch.randperm(self.capacity, generator=generator)[:k]
        self.archs[slots], self.rewards[slots] = archs[:k], rewards[:k]

    def replay(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """A random batch of ``n`` stored archs (all of them when fewer), without repeats."""
        order = torch.randperm(len(self), generator=generator)[:n]
        return self.archs[order]

    def state_dict(self) -> dict[str, Any]:
        return {"archs": self.archs.clone(), "rewards": self.rewards.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.archs, self.rewards = state["archs"].clone(), state["rewards"].clone()
