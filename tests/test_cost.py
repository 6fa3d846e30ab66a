"""The cost estimate: measured on the run's own supernet, without touching the run."""
import torch

from nasengine.config import load_config
from nasengine.cost import format_estimate, estimate_cost


def test_estimate_counts_the_runs_steps_and_archs_and_leaves_rng_alone(cifar10_path):
    config = load_config("smoke", ["data.train_limit=256", "train.epochs=3",
                                   "supernet.channels=4"])
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    est = estimate_cost(config, steps=1)
    assert torch.equal(torch.rand(3), expected)
    assert est["train_steps"] == 3 * (256 // 64) and 0 < est["archs"] <= 20  # distinct archs
    assert 0 < est["step_seconds"] and 0 < est["rank_seconds"] < est["total_seconds"]
    line = format_estimate(est, cells=4, workers=2)
    assert line.startswith("estimated cost on cpu: 4 cells on 2 workers:") and "12 steps" in line


def test_the_paper_preset_states_the_pada_protocol():
    config = load_config("nb201-paper")
    assert (config.supernet.channels, config.supernet.cells) == (16, 5)
    assert (config.train.epochs, config.train.batch_size, config.train.lr) == (250, 256, 0.05)
    assert config.train.weight_decay == 2.5e-4 and config.data.train_limit is None
    assert (config.evaluate.archs, config.evaluate.eval_images) == ("all", 10000)
    assert config.estimate_cost


def test_a_config_asking_for_it_prints_the_estimate_before_training(cifar10_path, tmp_path,
                                                                    capsys):
    from nasengine.cli import main

    assert main(["train", "--config", "smoke", "--out", str(tmp_path), "--no-progress",
                 "--set", "estimate_cost=true", "--set", "data.train_limit=128",
                 "--set", "supernet.channels=4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("estimated cost on cpu:") and lines[1].startswith("trained:")
