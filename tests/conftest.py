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
