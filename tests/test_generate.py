"""Budget queries: the ShiftNAS generator's arch for a params/FLOPs budget."""
import json

import pytest

from nasengine import api
from nasengine.cli import main
from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.families import get_family

TINY = ["supernet.channels=4", "data.train_limit=384", "data.valid_images=128",
        "train.batch_size=64", "train.epochs=1", "sampler.name=shiftnas",
        "sampler.options.generator_steps=2", "sampler.options.archs_per_region=3"]


@pytest.fixture(scope="module")
def run(cifar10_path, nb201_table_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("shiftnas")
    config = load_config("smoke", TINY)
    api.train(config, out, progress=False)
    return config, out


def test_generated_arch_fits_the_budget_and_is_scored(run):
    config, out = run
    report = api.generate(config, out, {"params": 9000}, progress=False)  # ~median at C=4 N=1
    best = report["generated"]
    family = get_family("nb201")
    arch = family.space().parse(best["arch"])
    # the budget holds for the run's own network (C=4, N=1), not the family's default
    assert family.complexity(arch, channels=4, cells=1)["params"] == best["params"] <= 9000
    assert 0 <= best["score"] <= 100 and 0 < best["true_acc"] <= 100
    assert report["candidates"] >= 1
    assert json.loads((out / "generate.json").read_text())["generated"] == best


def test_a_budget_below_the_smallest_arch_is_a_clear_error(run, capsys):
    config, out = run
    with pytest.raises(ConfigError, match="smallest one .*none.* has params"):
        api.generate(config, out, {"params": 1e3}, progress=False)
    args = ["generate", "--config", "smoke", "--out", str(out), "--max-params", "0.001",
            "--no-progress"] + [a for t in TINY for a in ("--set", t)]
    assert main(args) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_a_run_without_a_generator_says_what_to_do(cifar10_path, tmp_path):
    config = load_config("smoke", ["supernet.channels=4", "data.train_limit=256",
                                   "train.epochs=1"])
    api.train(config, tmp_path, progress=False)
    with pytest.raises(ConfigError, match="sampler.name=shiftnas.*search --max-params"):
        api.generate(config, tmp_path, {"params": 1e6}, progress=False)
