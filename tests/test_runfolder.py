"""Run folders: no silent overwrite, one trainer per folder, no leftovers of killed writes."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nasengine import cli
from nasengine.errors import RunFolderError
from nasengine.runfolder import LOCK, locked, remove_stale_temps

TINY = ["--config", "smoke", "--set", "supernet.channels=2", "--set", "data.train_limit=128",
        "--no-progress"]


def _train(out, *extra) -> int:
    return cli.main(["train", *TINY, "--out", str(out), *extra])


def test_train_refuses_to_restart_over_a_checkpoint(cifar10_path, tmp_path, capsys):
    assert _train(tmp_path) == 0
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    config = (tmp_path / "config.json").read_text()
    assert _train(tmp_path, "--set", "train.lr=0.2") == 2
    err = capsys.readouterr().err
    assert "already holds a checkpoint" in err and "--resume" in err and "--overwrite" in err
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved
    assert (tmp_path / "config.json").read_text() == config  # written only for accepted runs
    assert _train(tmp_path, "--resume", "--overwrite") == 2
    assert _train(tmp_path, "--set", "train.lr=0.2", "--overwrite") == 0
    assert json.loads((tmp_path / "config.json").read_text())["train"]["lr"] == 0.2
    assert (tmp_path / "checkpoint.pt").read_bytes() != saved


def test_a_refused_resume_leaves_config_json_alone(cifar10_path, tmp_path, capsys):
    assert _train(tmp_path) == 0
    config = (tmp_path / "config.json").read_text()
    assert _train(tmp_path, "--set", "train.lr=0.2", "--resume") == 2
    assert "train.lr: 0.05 -> 0.2" in capsys.readouterr().err
    assert (tmp_path / "config.json").read_text() == config


def test_a_second_trainer_is_refused_with_the_holders_pid(cifar10_path, tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from nasengine.runfolder import locked\n"
         f"with locked({str(tmp_path)!r}):\n print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _train(tmp_path) == 2
        assert f"in use by process {holder.pid}" in capsys.readouterr().err
        assert not (tmp_path / "config.json").exists()
    finally:
        holder.kill()
        holder.communicate()  # waits and closes its stdout pipe
    assert _train(tmp_path) == 0  # the dead holder's lock is taken over
    assert not (tmp_path / LOCK).exists()


def test_a_lock_file_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / LOCK).write_text(f"{dead}\n")
    with locked(tmp_path) as path:
        assert path.read_text().strip() != dead
        with pytest.raises(RunFolderError, match="in use by process"):
            with locked(tmp_path):
                pass


def test_leftovers_of_killed_atomic_writes_are_removed(tmp_path):
    kept = [tmp_path / "checkpoint.pt", tmp_path / ".hidden", tmp_path / "notes.tmp"]
    stale = [tmp_path / ".checkpoint.pt.ab12_x9.tmp", tmp_path / ".metrics.jsonl.q_w3e.tmp"]
    for p in kept + stale:
        p.write_text("x")
    assert sorted(remove_stale_temps(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_train_cleans_stale_temps_at_start(cifar10_path, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    assert _train(tmp_path) == 0
    assert not list(tmp_path.glob(".*.tmp"))
