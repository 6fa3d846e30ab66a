"""``nasengine search --optimizer darts|gdas``, run as a user runs it: one entry point for
both search kinds, one line and exit 2 for a bad option, one set of defaults."""
import json

import pytest

from nasengine.cli import main
from nasengine.search.gradient import GRADIENT_SEARCHES, DartsConfig
from nasengine.families import get_family


def test_presets_share_the_darts_defaults_and_gdas_anneals_gumbel():
    darts, gdas = GRADIENT_SEARCHES.create("darts"), GRADIENT_SEARCHES.create("gdas")
    assert darts.search_config() == DartsConfig()
    assert darts.alpha_lr == gdas.alpha_lr == 3e-4  # DARTS's rate, the one default
    assert (gdas.relaxation, gdas.temperature, gdas.temperature_end) == ("gumbel", 10.0, 0.1)
    assert GRADIENT_SEARCHES.create("darts", {"alpha_lr": 3e-3, "images": 64}).images == 64


@pytest.mark.parametrize("argv, match", [
    (["--option", "alpha_rate=1"], "has no option 'alpha_rate'; it accepts: epochs"),
    (["--option", "channels=0"], "channels = 0 is not allowed"),
    (["--option", "mode=unrolled"], "unknown search mode 'unrolled'"),
    (["--budget", "5"], "--budget is an option of the optuna search"),
    (["--set", "train.epochs=1"], "--set is an option of the optuna search"),
    (["--config", "smoke"], "--config is an option of the optuna search"),
])
def test_bad_gradient_options_are_one_line_and_exit_2(tmp_path, capsys, argv, match):
    code = main(["search", "--optimizer", "darts", "--out", str(tmp_path / "s"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s" / "result.json").exists()


def test_cli_gradient_search_on_real_cifar_ends_in_a_discrete_arch(cifar10_path, tmp_path,
                                                                    capsys):
    code = main(["search", "--optimizer", "gdas", "--option", "channels=2", "--option",
                 "images=128", "--option", "batch_size=32", "--out", str(tmp_path)])
    assert code == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert get_family("macro").space().contains(result["arch"])
    assert result["params"] > 0 and result["flops"] > 0
    assert result["config"]["relaxation"] == "gumbel" and result["config"]["alpha_lr"] == 3e-4
    assert result["history"][-1]["temperature"] == pytest.approx(0.1)
    assert '"params"' in capsys.readouterr().out


def test_ctrl_c_says_a_gradient_search_starts_over(monkeypatch, tmp_path, capsys):
    import nasengine.search.gradient as gradient

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gradient, "gradient_search", interrupted)
    assert main(["search", "--optimizer", "darts", "--out", str(tmp_path)]) == 130
    assert "a gradient search keeps no checkpoint" in capsys.readouterr().err
