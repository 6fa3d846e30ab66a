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


@pytest.fixture(scope="session")
def synthetic_nb201(tmp_path_factory) -> Path:
    """An NB201-format table over the whole space with made-up, seeded accuracies.

    Tests that rank against a ground truth use it instead of the real table, so they check
    the engine, not the data. CIFAR-10 accuracy grows with the arch's conv count (a signal
    a trained supernet and #params can find) plus noise; the other datasets follow it.
    """
    import numpy as np

    from nasengine.benchmark import NB201Table
    from nasengine.families import get_family

    space = get_family("nb201").space()
    archs = [space.format(space.decode(i)) for i in range(len(space))]
    convs = np.array([a.count("conv_3x3") + 0.5 * a.count("conv_1x1") for a in archs])
    rng = np.random.default_rng(0)
    c10 = 80 + 2.0 * convs + rng.normal(0, 1.5, len(archs))
    columns = {"cifar10_test_acc": c10, "cifar100_test_acc": c10 - 20 + rng.normal(0, 1, len(archs)),
               "imagenet16_120_test_acc": c10 - 45 + rng.normal(0, 1, len(archs)),
               "params_M_cifar10": 0.1 + 0.1 * convs, "flops_M_cifar10": 10 + 15 * convs}
    path = tmp_path_factory.mktemp("nb201") / "synthetic.csv.gz"
    return NB201Table(range(len(archs)), archs, columns, source="synthetic").save(path)


@pytest.fixture(scope="session")
def table_truth():
    """``table_truth(path)``: an NB201-format table's CIFAR-10 test accuracy per arch, read
    with the csv module, not by the engine, so reports are checked against the truth itself."""
    import csv
    import gzip

    def read(path: Path) -> dict[str, float]:
        with gzip.open(path, "rt") as f:
            return {row["arch"]: float(row["cifar10_test_acc"]) for row in csv.DictReader(f)}

    return read


@pytest.fixture(scope="session")
def check_ranking(table_truth):
    """``check(out, table_path, n)``: the ranking in ``out`` lists ``n`` archs whose true
    accuracies, and whose supernet top-1 pick's, are the table's."""
    import csv
    import json

    def check(out: Path, table_path: Path, n: int) -> dict:
        truth, report = table_truth(table_path), json.loads((out / "ranking.json").read_text())
        with open(out / "scores.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == n and all(float(r["true_acc"]) == pytest.approx(truth[r["arch"]])
                                      for r in rows)
        pick = max(rows, key=lambda r: float(r["supernet_acc"]))
        assert report["supernet"]["top1_true_acc"] == pytest.approx(truth[pick["arch"]])
        return report

    return check


@pytest.fixture
def train_twice(tmp_path):
    """``run(config, stop_after)`` -> (pipeline trained uninterrupted, pipeline stopped after
    ``stop_after`` epochs and resumed from its checkpoint by a fresh build)."""
    from nasengine import api

    def run(config, stop_after: int = 1):
        full = api.build(config, progress=False)
        full.trainer(tmp_path / "full").fit()
        api.build(config, progress=False).trainer(tmp_path / "cut").fit(stop_after=stop_after)
        resumed = api.build(config, progress=False)
        resumed.trainer(tmp_path / "cut").fit(resume=True)
        a, b = full.supernet.state_dict(), resumed.supernet.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        return full, resumed

    return run
