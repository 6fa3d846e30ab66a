"""Shared fixtures: real-data locations, and thread settings safe beside other work."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nasengine.paths import data_root

torch.set_num_threads(int(os.environ.get("NASENGINE_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def nb201_table_path() -> Path:
    path = data_root() / "nb201" / "nb201.csv.gz"
    if not path.is_file():
        pytest.skip(f"NB201 ground truth not found at {path} (set NASENGINE_DATA)")
    return path


@pytest.fixture(scope="session")
def cifar10_path() -> Path:
    path = data_root() / "cifar10" / "cifar10-jpeg.tar.gz"
    if not path.is_file():
        pytest.skip(f"CIFAR-10 not found at {path} (set NASENGINE_DATA)")
    return path


@pytest.fixture
def train_twice(tmp_path):
    """``run(config, stop_after)`` -> (pipeline trained uninterrupted, pipeline stopped after
    ``stop_after`` epochs and resumed from its checkpoint by a fresh build)."""
    from nasengine import api

    def run(config, stop_after: int):
        full = api.build(config, progress=False)
        full.trainer(tmp_path / "full").fit()
        api.build(config, progress=False).trainer(tmp_path / "cut").fit(stop_after=stop_after)
        resumed = api.build(config, progress=False)
        resumed.trainer(tmp_path / "cut").fit(resume=True)
        a, b = full.supernet.state_dict(), resumed.supernet.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        return full, resumed

    return run
