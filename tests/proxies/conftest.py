"""Small stand-alone networks and a random batch, so proxy tests need no data files."""
from __future__ import annotations

import pytest
import torch

#: the smallest networks of each bundled space (space, stand-alone kwargs)
SMALL_NETS = {"nb201": {"channels": 4, "cells": 1}, "macro": {"channels": 4}}


@pytest.fixture(scope="session")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 32, 32, generator=gen), torch.randint(0, 10, (8,), generator=gen)
