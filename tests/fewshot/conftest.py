"""Small supernets for few-shot tests: a tiny NB201 supernet and a toy with known gradients."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from nasengine.space import Categorical, SearchSpace
from nasengine.families import get_family
from nasengine.supernet.base import Supernet

torch.set_num_threads(1)


@pytest.fixture
def nb201_supernet() -> Supernet:
    torch.manual_seed(0)
    return get_family("nb201").build_supernet(channels=4, cells=1)


class _Direction(nn.Module):
    """A choice: a learnable scale times a fixed direction."""

    def __init__(self, direction: list[float]) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.register_buffer("direction", torch.tensor(direction))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.direction * self.scale


class ToySupernet(Supernet):
    """Logits ``[(w * sum_d u_d(x)).sum(), 0]``: with x = 1 and label 1, dL/dw is a positive
    multiple of the sum of the chosen directions, so gradient agreement is known by design."""

    def __init__(self, directions: dict[str, dict[str, list[float]]]) -> None:
        super().__init__()
        self.space = SearchSpace([Categorical(d, tuple(v)) for d, v in directions.items()])
        self.w = nn.Parameter(torch.ones(4))
        self.ops = nn.ModuleDict({v: _Direction(u) for choices in directions.values()
                                  for v, u in choices.items()})

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        h = sum(self.ops[arch[d]](x) for d in self.space.labels)
        s = (h * self.w).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)

    def choice_modules(self, arch):
        return {arch[d]: [self.ops[arch[d]]] for d in self.space.labels}


@pytest.fixture
def toy() -> ToySupernet:
    """Decision ``a``: a0, a1 push w one way, a2, a3 the opposite way; ``b``: all agree."""
    return ToySupernet({
        "a": {"a0": [1, 0.1, 0, 0], "a1": [1, -0.1, 0, 0], "a2": [-1, 0, 0.1, 0],
              "a3": [-1, 0, -0.1, 0]},
        "b": {"b0": [0, 0.01, 0, 0.1], "b1": [0, 0, 0.01, 0.1], "b2": [0.01, 0, 0, 0.1],
              "b3": [0, 0, 0, 0.11]},
    })


@pytest.fixture
def toy_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.ones(2, 4), torch.ones(2, dtype=torch.long)) for _ in range(6)]
