"""Final selection from a trained sampler: ``nasengine search --optimizer controller``."""
import json

import pytest

from nasengine import api
from nasengine.cli import main
from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.samplers import EnasSampler
from nasengine.search.optimizers import create_optimizer
from nasengine.search.arch_search import ArchSearch
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()
PICK = SPACE.parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|"
                   "nor_conv_3x3~2|")


class Fixed:
    """A policy that has collapsed onto one arch."""

    def draw(self, n, generator=None):
        return [dict(PICK) for _ in range(n)]


def test_every_trial_is_a_draw_from_the_policy():
    search = ArchSearch(SPACE, lambda arch: 1.0, "controller", sampler=Fixed())
    result = search.run(5, progress=False)
    assert {t["arch"] for t in result.trials} == {SPACE.format(PICK)}
    assert result.evaluations == 1  # repeats are scored once


def test_a_sampler_without_a_policy_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="sampler.name=enas"):
        create_optimizer("controller", 0, sampler=object())


SMOKE = ["supernet.channels=4", "data.train_limit=384", "train.epochs=1", "data.valid_images=128",
         "sampler.name=enas", "sampler.options.controller_steps=3", "sampler.options.aggregate=4",
         "sampler.options.lr=0.5"]  # moves the policy visibly in 3 steps


def test_cli_selects_from_the_checkpoints_trained_controller(cifar10_path, nb201_table_path,
                                                             tmp_path, capsys):
    pipe = api.train(load_config("smoke", SMOKE), tmp_path, progress=False)
    args = ["search", "--config", "smoke", "--out", str(tmp_path), "--no-progress", "--budget", "4",
            "--optimizer", "controller", "--search-seed", "3"]
    assert main(args + [f"--set={s}" for s in SMOKE]) == 0
    report = json.loads((tmp_path / "search.json").read_text())
    assert report["trials"] == 4 and "regret" in report["best"]
    assert "regret" in capsys.readouterr().out
    # the proposals are the trained controller's draws (same generators), not an untrained one's
    def proposals(sampler):
        search = ArchSearch(SPACE, lambda arch: 0.0, "controller", seed=3, sampler=sampler)
        return [t["arch"] for t in search.run(4, progress=False).trials]

    assert proposals(pipe.sampler) == [t["arch"] for t in report["trials_log"]]
    assert proposals(EnasSampler(SPACE, seed=0)) != proposals(pipe.sampler)


def test_cli_controller_on_a_uniform_run_is_one_clear_error(cifar10_path, tmp_path, capsys):
    smoke = ["supernet.channels=4", "data.train_limit=256", "train.epochs=1"]
    api.train(load_config("smoke", smoke), tmp_path, progress=False)
    args = ["search", "--config", "smoke", "--out", str(tmp_path), "--no-progress",
            "--optimizer", "controller"]
    assert main(args + [f"--set={s}" for s in smoke]) == 2
    assert "sampler.name=enas" in capsys.readouterr().err
