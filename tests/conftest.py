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


REAL_DATA_FIXTURES = {"nb201_table_path", "cifar10_path"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reads the real data files, so ``-m "not realdata"`` selects the
    rest and the summary counts them."""
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("realdata")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    """Say how many real-data tests ran, so a missing data folder is never a silent pass."""
    stats = terminalreporter.stats

    def count(kind: str) -> int:
        return sum(1 for r in stats.get(kind, ()) if "realdata" in getattr(r, "keywords", {}))
    ran, skipped = count("passed") + count("failed"), count("skipped")
    if ran or skipped:
        terminalreporter.write_line(
            f"real-data tests: {ran} ran, {skipped} skipped"
            + (f" (data not found under {data_root()}; set NASENGINE_DATA)" if skipped else ""))
