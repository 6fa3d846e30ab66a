"""``nasengine search`` on a supernet trained on real CIFAR-10, judged against NB201."""
import json
import random

import pytest

from nasengine import api
from nasengine.cli import main
from nasengine.config import load_config

SMOKE = ["supernet.channels=4", "data.train_limit=256", "train.epochs=1"]


@pytest.fixture(scope="module")
def trained(cifar10_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    api.train(load_config("smoke", SMOKE), out, progress=False)
    return out


def search(out, *extra: str) -> int:
    args = ["search", "--config", "smoke", "--out", str(out), "--no-progress", "--budget", "6"]
    return main(args + [f"--set={s}" for s in SMOKE] + list(extra))


def test_search_reports_the_pick_and_its_regret(trained, nb201_table_path, table_truth, capsys):
    assert search(trained, "--optimizer", "tpe") == 0
    report = json.loads((trained / "search.json").read_text())
    assert report["trials"] == 6 and 1 <= report["evaluations"] <= 6
    best, truth = report["best"], table_truth(nb201_table_path)
    assert best["arch"] == max(report["trials_log"], key=lambda t: t["score"])["arch"]
    assert best["true_acc"] == pytest.approx(truth[best["arch"]])
    assert best["regret"] == pytest.approx(max(truth.values()) - truth[best["arch"]])
    assert (trained / "search.png").stat().st_size > 0
    assert "regret" in capsys.readouterr().out


def test_a_finished_search_is_not_repeated(trained, nb201_table_path):
    assert search(trained, "--optimizer", "random") == 0
    first = json.loads((trained / "search.json").read_text())
    assert search(trained, "--optimizer", "random") == 0
    again = json.loads((trained / "search.json").read_text())
    assert again["trials_log"] == first["trials_log"]


def test_bad_option_exits_2_with_the_fix(trained, capsys):
    assert search(trained, "--option", "popsize=3") == 2
    assert "accepts: population, tournament" in capsys.readouterr().err


def test_parameter_limit_keeps_every_trial_under_it(trained, nb201_table_path, capsys):
    """The limit is measured on the run's own network (C=4, N=1), not the family default;
    checked here on that network's own parameters, not with the function that enforces it."""
    from search_spaces.nb201 import NB201Space
    from search_spaces.nb201.model import NB201Standalone

    assert search(trained, "--optimizer", "evolution", "--max-params", "0.009") == 0
    report = json.loads((trained / "search.json").read_text())
    space = NB201Space()
    assert report["search"]["limits"] == {"params": 9000.0}
    sizes = [sum(p.numel() for p in NB201Standalone(space.parse(t["arch"]), 4, 1, 10)
                 .parameters()) for t in report["trials_log"]]
    assert sizes and max(sizes) <= 9e3
    assert report["rejected"] > 0 and "broke the complexity limit" in capsys.readouterr().out


def test_complexity_is_measured_once_per_arch():
    from nasengine.api import cached_complexity, complexity_limit
    from nasengine.families import get_family

    family, calls = get_family("nb201"), []
    measure = family.complexity
    family.complexity = lambda arch, **config: calls.append(config) or measure(arch, **config)
    limit = complexity_limit(cached_complexity(family, channels=4, cells=1), {"params": 9e3})
    arch = family.space().decode(5)
    assert limit(arch) == limit(arch) and calls == [{"channels": 4, "cells": 1}]


def test_unknown_or_negative_limits_are_refused(trained):
    from nasengine.api import complexity_limit
    from nasengine.errors import ConfigError
    from nasengine.families import get_family

    family = get_family("nb201")
    with pytest.raises(ConfigError, match="positive"):
        complexity_limit(family, {"params": -1})
    with pytest.raises(ConfigError, match="known: .*flops"):
        complexity_limit(family, {"latency": 3})(family.space().decode(0))


def test_storage_and_study_say_where_the_trials_go(trained, nb201_table_path, tmp_path, capsys):
    import optuna

    db = tmp_path / "elsewhere.db"
    assert search(trained, "--optimizer", "random", "--storage", str(db), "--study", "mine") == 0
    report = json.loads((trained / "search.json").read_text())
    assert report["study"] == {"name": "mine", "storage": f"sqlite:///{db.resolve()}"}
    stored = optuna.load_study(study_name="mine", storage=f"sqlite:///{db}")
    assert len(stored.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 6
    assert f"optuna-dashboard sqlite:///{db.resolve()}" in capsys.readouterr().out


def test_hardware_aware_search_writes_the_pareto_front(trained, nb201_table_path, capsys):
    assert search(trained, "--optimizer", "nsga2", "--option", "population=4",
                  "--cost", "latency_ms_help_pixel2") == 0
    pareto = json.loads((trained / "search.json").read_text())["pareto"]
    front = pareto["front"]
    assert pareto["cost"] == "latency_ms_help_pixel2" and front
    costs = [f["cost"] for f in front]
    scores = [f["score"] for f in front]
    assert costs == sorted(costs) and scores == sorted(scores)  # a trade-off curve
    assert 0 < pareto["hypervolume"]["ratio"] <= 1
    assert (trained / "pareto.png").stat().st_size > 0
    assert "Pareto front" in capsys.readouterr().out


def test_single_objective_optimiser_or_unknown_cost_is_refused(trained, nb201_table_path, capsys):
    assert search(trained, "--optimizer", "evolution", "--cost", "params") == 2
    assert "use --optimizer nsga2" in capsys.readouterr().err
    assert search(trained, "--optimizer", "nsga2", "--cost", "watts") == 2
    assert "latency_ms_help_pixel2" in capsys.readouterr().err


def test_params_and_flops_costs_are_the_run_width_networks(nb201_table_path):
    pipe = api.build(load_config("smoke", SMOKE), progress=False)
    arch = pipe.space.sample(random.Random(0))
    for name in ("params", "flops"):
        cost = api.cost_measure(pipe, name)(arch)
        assert cost == pipe.family.complexity(arch, **pipe.options)[name]
        assert cost < pipe.family.complexity(arch)[name]  # C4, not the default C16

