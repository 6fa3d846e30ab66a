"""torchrun training (2 gloo processes on CPU) is the run ``train.data_parallel=2`` makes
with threads in one process: same weights, same sampler state, resumable across."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys

import pytest
import torch

from nasengine import api
from nasengine.config import load_config

SETS = ["train.data_parallel=2", "data.train_limit=256", "train.epochs=2"]


def torchrun(tmp_path, *args: str) -> subprocess.CompletedProcess:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           f"--master_port={port}", *args], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path)


def weights(out) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", weights_only=True)


def assert_same_run(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"]
    for name, tensor in a["model"].items():
        torch.testing.assert_close(tensor, b["model"][name], rtol=0, atol=1e-6, msg=name)
    assert str(a["sampler"]) == str(b["sampler"])


def threads(tmp_path, sampler: str):
    out = tmp_path / f"threads-{sampler}"
    api.train(load_config("smoke", SETS + [f"sampler.name={sampler}"]), out, progress=False)
    return weights(out)


@pytest.mark.slow
def test_two_gloo_processes_train_what_two_threads_train(cifar10_path, tmp_path):
    done = torchrun(tmp_path, "-m", "nasengine", "train", "--config", "smoke", "--out", "ddp",
                    "--no-progress", *(f"--set={s}" for s in SETS))
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_run(weights(tmp_path / "ddp"), threads(tmp_path, "uniform"))


@pytest.mark.slow
def test_pada_under_torchrun_resumes_at_world_size_one(cifar10_path, tmp_path):
    """2 processes train PA&DA's first epoch; one process (two threads) finishes the run:
    it ends where the one-process run ends, so the learnt sampler state matched too."""
    sets = SETS + ["sampler.name=pada"]
    script = tmp_path / "first_epoch.py"
    script.write_text("from pathlib import Path\nfrom nasengine import api\n"
                      "from nasengine.config import load_config\n"
                      f"api.build(load_config('smoke', {sets!r}), progress=False)"
                      ".trainer(Path('ddp')).fit(stop_after=1)\n")
    done = torchrun(tmp_path, str(script))
    assert done.returncode == 0, done.stderr[-2000:]
    assert weights(tmp_path / "ddp")["epoch"] == 1
    api.train(load_config("smoke", sets), tmp_path / "ddp", resume=True, progress=False)
    assert_same_run(weights(tmp_path / "ddp"), threads(tmp_path, "pada"))


@pytest.mark.slow
def test_torchrun_with_another_split_names_the_fix(cifar10_path, tmp_path):
    done = torchrun(tmp_path, "-m", "nasengine", "train", "--config", "smoke", "--out", "bad",
                    "--no-progress", "--set=data.train_limit=256")
    assert done.returncode != 0 and "set --set train.data_parallel=2" in done.stderr


def find(report, key: str):
    """The value of ``key`` wherever it sits in a nested report."""
    if isinstance(report, dict):
        if key in report:
            return report[key]
        return next((v for v in map(lambda r: find(r, key), report.values()) if v is not None),
                    None)
    return None


@pytest.mark.slow
def test_rank_under_torchrun_shards_the_archs_and_reports_what_one_process_does(
        cifar10_path, nb201_table_path, tmp_path):
    config = load_config("smoke", ["data.train_limit=256"])
    api.train(config, tmp_path / "one", progress=False)
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    one = api.rank(config, tmp_path / "one", progress=False)
    done = torchrun(tmp_path, "-m", "nasengine", "rank", "--config", "smoke", "--out", "two",
                    "--no-progress", "--set=data.train_limit=256")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "two" / "scores.csv").read_text() == \
        (tmp_path / "one" / "scores.csv").read_text()
    two = json.loads((tmp_path / "two" / "ranking.json").read_text())
    assert find(two, "kendall_tau") == find(one, "kendall_tau")
    assert find(two, "distinct_evaluations") == find(one, "distinct_evaluations") is not None
