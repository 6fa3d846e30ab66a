"""One validation layer: every bad config value or CLI option is one line and exit 2."""
from __future__ import annotations

import json
import warnings

import pytest

from nasengine import api, cli
from nasengine.config import load_config
from nasengine.errors import ConfigError

# (--set override, words the error must hold): each once a traceback or a silent misreading
BAD_SETTINGS = [
    ("train.epochs=two", "train.epochs = 'two' is not allowed; expected an integer"),
    ("train.epochs=2.5", "train.epochs = 2.5 is not allowed; expected an integer"),
    ("train.epochs=0", "train.epochs = 0 is not allowed; expected a value >= 1"),
    ("train.epochs=-1", "expected a value >= 1"),
    ("train.batch_size=0", "train.batch_size = 0"),
    ("train.lr=fast", "train.lr = 'fast' is not allowed; expected a finite number"),
    ("train.lr=-0.1", "train.lr = -0.1 is not allowed; expected a value > 0"),
    ("train.lr=nan", "train.lr = nan"),
    ("train.lr_min=0.5", "train.lr_min = 0.5 is above train.lr = 0.05"),
    ("train.momentum=0", "train.nesterov = true needs train.momentum > 0"),
    ("train.sync_bn=true", "train.sync_bn = true needs train.data_parallel >= 2"),
    ("supernet.channels=0", "supernet.channels = 0"),
    ("evaluate.n_archs=-3", "evaluate.n_archs = -3"),
    ("data.train_limit=-10", "data.train_limit = -10"),
    ("evaluate.eval_images=-5", "evaluate.eval_images = -5"),
    ("evaluate.archs=some", "evaluate.archs = 'some' is not allowed; expected one of 'random', "
                            "'all'"),
    ("evaluate.bn=nope", "unknown BN protocol 'nope'; known: batch, recalibrate"),
    ("fewshot.splits=0", "fewshot.splits = 0 is not allowed; expected a value >= 1"),
    ("data.augment=1", "data.augment = 1 is not allowed; expected true or false"),
    ("fewshot.decisions=[1]", "fewshot.decisions = [1] is not allowed; expected a list of strings"),
    ("threads=0", "threads = 0"),
    ("device=banana", "device = 'banana' is not allowed; expected auto, cpu, cuda or cuda:N"),
    ("sampler.options.foo=1", "sampler 'uniform' has no option 'foo'; it takes no options"),
    ("sampler.options.seed=1", "option seed is set by nasengine itself"),
    ("train=3", "[train] must be a table"),
]


def _fails(capsys, argv) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nasengine: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("setting,words", BAD_SETTINGS)
def test_bad_config_values_are_one_line_naming_field_value_and_allowed(setting, words, tmp_path,
                                                                      capsys):
    err = _fails(capsys, ["train", "--config", "smoke", "--out", str(tmp_path / "run"),
                          "--set", setting])
    assert words in err
    assert not (tmp_path / "run" / "config.json").exists()


def test_sampler_and_strategy_options_are_checked_against_what_each_accepts(tmp_path, capsys):
    base = ["train", "--config", "smoke", "--out", str(tmp_path)]
    err = _fails(capsys, base + ["--set", "sampler.name=pada", "--set", "sampler.options.importance_weight=x"])
    assert "sampler 'pada' option importance_weight = 'x' is not allowed; expected a finite number" in err
    err = _fails(capsys, base + ["--set", "sampler.name=pada", "--set", "sampler.options.tua=1"])
    assert "has no option 'tua'; it accepts: path, data, importance_weight," in err
    err = _fails(capsys, base + ["--set", "fewshot.strategy=gm",
                                 "--set", "fewshot.options.params=\"*\""])
    assert "split strategy 'gm' option params = '*'" in err and "a list of strings" in err


@pytest.mark.parametrize("argv,words", [
    (["--device", "banana"], "device = 'banana'"),
    (["--threads", "-1"], "threads = -1 is not allowed; expected a value >= 1"),
    (["--threads", "0"], "threads = 0"),
    (["--seed", "-2"], "seed = -2"),
])
def test_bad_cli_options_exit_2(argv, words, tmp_path, capsys):
    assert words in _fails(capsys, ["train", "--config", "smoke", "--out", str(tmp_path), *argv])


def test_out_must_be_a_folder(tmp_path, capsys):
    afile = tmp_path / "hostname"
    afile.write_text("x")
    for command in ("train", "rank", "search"):
        assert "is a file; give a folder path" in _fails(
            capsys, [command, "--config", "smoke", "--out", str(afile)])
    assert "lies under the file" in _fails(
        capsys, ["train", "--config", "smoke", "--out", str(afile / "run")])


def test_info_sizes_must_be_positive(capsys):
    assert "--channels = 0" in _fails(capsys, ["info", "--arch",
                                               "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                               "--channels", "0"])


def test_config_files_with_wrong_types_or_bytes_are_refused(tmp_path, capsys):
    typed = tmp_path / "typed.toml"
    typed.write_text('[train]\nepochs = "two"\n')
    assert "train.epochs = 'two'" in _fails(capsys, ["train", "--config", str(typed),
                                                     "--out", str(tmp_path / "r")])
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"seed = 0\n# caf\xe9\n")
    assert "is not UTF-8 text (byte 0xe9" in _fails(capsys, ["train", "--config", str(latin),
                                                            "--out", str(tmp_path / "r")])


def test_n_archs_above_the_space_size_is_an_explicit_warning():
    config = load_config("smoke", ["evaluate.n_archs=100000"])
    pipe = api.build(config, progress=False)
    with pytest.warns(UserWarning, match="n_archs = 100000 is above the 15625 archs of the"):
        archs = pipe.arch_sample()
    assert len(archs) == len(pipe.space)
    with warnings.catch_warnings():  # train's prefetch and rank draw once: one warning
        warnings.simplefilter("error")
        assert pipe.arch_sample() == archs


def test_a_config_edited_in_python_is_checked_when_built():
    config = load_config("smoke")
    config.train.epochs = 0
    with pytest.raises(ConfigError, match="train.epochs = 0"):
        api.build(config, progress=False)


@pytest.fixture(scope="module")
def trained(cifar10_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    assert cli.main(["train", "--config", "smoke", "--out", str(out), "--no-progress",
                     "--set", "supernet.channels=2", "--set", "data.train_limit=128"]) == 0
    return out


@pytest.mark.parametrize("optimizer,option,words", [
    ("evolution", "population=abc", "search optimizer 'evolution' option population = 'abc'"),
    ("tpe", "startup=abc", "search optimizer 'tpe' option startup = 'abc'"),
    ("random", "startup=3", "search optimizer 'random' has no option 'startup'; it takes no"),
])
def test_search_options_are_checked_before_any_trial(trained, capsys, optimizer, option, words):
    argv = ["search", "--config", "smoke", "--out", str(trained), "--no-progress",
            "--set", "supernet.channels=2", "--set", "data.train_limit=128",
            "--optimizer", optimizer, "--option", option]
    assert words in _fails(capsys, argv)
    assert not (trained / "search.db").exists()  # no study, so no trial left RUNNING


def test_ctrl_c_in_search_names_a_command_that_exists(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "search", interrupted)
    assert cli.main(["search", "--config", "smoke", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "--resume" not in err and "run the same search command again" in err


def test_settings_that_were_fine_still_load():
    config = load_config("demo", ["train.lr=1", "data.train_limit=0", "evaluate.eval_images=0",
                                  "train.grad_clip=0", 'fewshot.decisions=["1<-0"]'])
    assert config.train.lr == 1 and json.loads(json.dumps(config.to_dict()))
