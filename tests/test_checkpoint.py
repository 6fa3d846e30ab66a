import pytest

from nasengine.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from nasengine.errors import CheckpointError


def test_round_trip_and_fingerprint_check(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"epoch": 3}, {"space": "nb201", "lr": 0.1})
    assert load_checkpoint(path, {"space": "nb201", "lr": 0.1})["epoch"] == 3
    with pytest.raises(CheckpointError, match="lr: 0.1 -> 0.2"):
        load_checkpoint(path, {"space": "nb201", "lr": 0.2})


def test_corrupt_and_missing_checkpoints(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"epoch": 1}, {})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_failed_write_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"epoch": 1}, {})

    def explode(tmp):
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, explode)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
