"""Reports say what they rest on: finite weights, the checkpoint's epoch, valid JSON."""
from __future__ import annotations

import json
import math

import pytest
import torch

from nasengine import api, cli
from nasengine.checkpoint import atomic_write_json, load_checkpoint, save_checkpoint
from nasengine.config import load_config
from nasengine.errors import TrainingError

TINY = ["supernet.channels=2", "data.train_limit=128", "train.epochs=2", "evaluate.n_archs=8",
        "evaluate.eval_images=64", "evaluate.bootstrap=20"]


@pytest.fixture(scope="module")
def half_trained(cifar10_path, tmp_path_factory):
    """One epoch of a two-epoch run: an unfinished checkpoint."""
    out = tmp_path_factory.mktemp("half")
    api.build(load_config("smoke", TINY), progress=False).trainer(out).fit(stop_after=1)
    return out


def _rank(out, capsys) -> tuple[int, str]:
    code = cli.main(["rank", "--config", "smoke", "--out", str(out), "--no-progress",
                     *[f"--set={s}" for s in TINY]])
    return code, capsys.readouterr().err


def test_an_unfinished_checkpoint_is_ranked_with_a_warning_and_recorded(
        half_trained, nb201_table_path, capsys):
    with pytest.warns(UserWarning, match="is from epoch 1 of 2 \\(training unfinished\\)"):
        code, _ = _rank(half_trained, capsys)
    assert code == 0
    report = json.loads((half_trained / "ranking.json").read_text())
    assert report["protocol"]["checkpoint"] == {"epoch": 1, "epochs": 2, "finished": False}
    md = (half_trained / "ranking.md").read_text()
    assert "Unfinished supernet" in md and "| precision_at_5 (top 5%) |" in md


def test_nan_weights_are_refused_by_rank_and_search(half_trained, tmp_path, capsys):
    state = load_checkpoint(half_trained / "checkpoint.pt")
    fingerprint = state.pop("fingerprint")
    state.pop("format")
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = torch.full_like(state["model"][name], math.nan)
    save_checkpoint(tmp_path / "checkpoint.pt", state, fingerprint)
    code, err = _rank(tmp_path, capsys)
    assert code == 2 and "non-finite (NaN/inf) weights" in err and name in err
    assert cli.main(["search", "--config", "smoke", "--out", str(tmp_path), "--no-progress",
                     *[f"--set={s}" for s in TINY]]) == 2
    assert not (tmp_path / "ranking.json").exists() and not (tmp_path / "search.db").exists()


def test_json_reports_are_always_valid_json(tmp_path):
    path = atomic_write_json(tmp_path / "r.json", {"tau": math.nan, "ci": [0.1, math.inf],
                                                   "ok": 1.5})

    def refuse(constant):
        raise AssertionError(f"invalid JSON literal {constant}")

    report = json.loads(path.read_text(), parse_constant=refuse)
    assert report["tau"] is None and report["ci"] == [0.1, None] and report["ok"] == 1.5
    assert report["null_means_not_finite"] == ["tau", "ci[1]"]


def test_nan_loss_before_any_checkpoint_names_none(cifar10_path, tmp_path):
    pipe = api.build(load_config("smoke", TINY), progress=False)
    with torch.no_grad():
        next(pipe.supernet.parameters()).fill_(math.nan)
    with pytest.raises(TrainingError, match="no checkpoint was written yet") as info:
        pipe.trainer(tmp_path).fit()
    assert "last good checkpoint" not in str(info.value)
