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


class _Payload:
    """A pickle that would create a file when loaded (what a hostile checkpoint does)."""

    def __init__(self, target) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("command", ["rank", "search", "train"])
def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path, capsys, command):
    import torch

    from nasengine import cli

    target = tmp_path / "pwned"
    torch.save({"format": "nasengine-checkpoint/1", "x": _Payload(target)},
               tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="refusing to load.*could run code"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    extra = ["--resume"] if command == "train" else []
    assert cli.main([command, "--config", "smoke", "--out", str(tmp_path), *extra]) == 2
    assert "refusing to load" in capsys.readouterr().err
    assert not target.exists()
