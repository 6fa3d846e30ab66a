"""Proxies in the pipeline, as a user runs them: the table command, rank and search."""
from __future__ import annotations

import csv
import json

import pytest

from nasengine.cli import main

SMOKE = ["supernet.channels=4", "data.train_limit=256", "train.epochs=1",
         "proxies.channels=4", "proxies.cells=1", "proxies.batch_size=8"]


def sets(*items: str) -> list[str]:
    return [f"--set={s}" for s in (*SMOKE, *items)]


def test_proxies_command_writes_a_table_and_reuses_its_cache(cifar10_path, tmp_path, capsys):
    args = ["proxies", "--config", "smoke", "--space", "nb201", "--archs", "5", "--out",
            str(tmp_path / "t"), "--proxies", "naswot,params", "--no-progress",
            *sets(f"proxies.cache='{tmp_path / 'cache'}'")]
    assert main(args) == 0
    assert "computed 5 in" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "t" / "proxies.csv").open()))
    assert len(rows) == 5 and set(rows[0]) == {"arch", "naswot", "params"}
    assert main(args) == 0
    assert "(all from the cache)" in capsys.readouterr().out


def test_unknown_proxy_is_one_line_error(tmp_path, capsys):
    args = ["proxies", "--config", "smoke", "--out", str(tmp_path), "--proxies", "nope"]
    assert main(args) == 2
    assert "unknown proxy 'nope'; known: " in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(cifar10_path, tmp_path_factory):
    from nasengine import api
    from nasengine.config import load_config

    out = tmp_path_factory.mktemp("smoke")
    api.train(load_config("smoke", SMOKE), out, progress=False)
    return out


@pytest.mark.slow
def test_rank_reports_every_configured_proxy_and_the_hybrid(trained, nb201_table_path,
                                                             tmp_path, capsys):
    args = ["rank", "--config", "smoke", "--out", str(trained), "--no-progress",
            *sets("evaluate.n_archs=8", 'proxies.names=["naswot","synflow","ensemble"]',
                  f"proxies.cache='{tmp_path}'")]
    assert main(args) == 0
    report = json.loads((trained / "ranking.json").read_text())
    assert set(report["rivals"]) == {"naswot", "synflow", "ensemble"}
    assert report["hybrid"]["n"] == report["supernet"]["n"] == 8
    out = capsys.readouterr().out
    assert "hybrid (log-rank sum)" in out and "strongest free rival" in out
    assert main([*args, "--set=proxies.rule='shortlist'", "--set=proxies.shortlist=0.25"]) == 0
    shortlisted = json.loads((trained / "ranking.json").read_text())
    assert shortlisted["hybrid_rule"] == "shortlist q=0.25"  # its own row, the same key
    assert shortlisted["supernet"] == report["supernet"]
    assert "hybrid (shortlist q=0.25)" in capsys.readouterr().out


@pytest.mark.slow
def test_search_maximises_the_hybrid(trained, nb201_table_path, tmp_path):
    args = ["search", "--config", "smoke", "--out", str(trained), "--no-progress",
            "--budget", "4", "--optimizer", "random", "--score", "hybrid",
            *sets("evaluate.n_archs=6", f"proxies.cache='{tmp_path}'")]
    assert main(args) == 0
    report = json.loads((trained / "search.json").read_text())
    assert report["search"]["score"]["name"] == "hybrid" and report["trials"] == 4
    assert all(t["score"] <= 0 for t in report["trials_log"])  # sums of log positions


@pytest.mark.slow
def test_search_can_maximise_the_proxies_alone(trained, nb201_table_path, tmp_path):
    """The training-free rival of a search: with ``proxies.hybrid=["params"]`` an arch with
    more stand-alone parameters never scores lower (log-ranks among 6 archs can tie)."""
    from nasengine import api
    from nasengine.config import load_config

    args = ["search", "--config", "smoke", "--out", str(trained), "--no-progress",
            "--budget", "6", "--optimizer", "random", "--score", "proxies", "--study", "free",
            *sets("evaluate.n_archs=6", 'proxies.hybrid=["params"]',
                  f"proxies.cache='{tmp_path}'")]
    assert main(args) == 0
    report = json.loads((trained / "search.json").read_text())
    assert report["search"]["score"]["name"] == "proxies" and report["trials"] == 6
    pipe = api.build(load_config("smoke", SMOKE), progress=False)
    params = [pipe.complexity(pipe.space.parse(t["arch"]))["params"]
              for t in report["trials_log"]]
    scores = [t["score"] for t in report["trials_log"]]
    pairs = [(i, j) for i in range(6) for j in range(6) if params[i] < params[j]]
    assert pairs and all(scores[i] <= scores[j] for i, j in pairs)
    assert len(set(scores)) > 1


@pytest.mark.slow
def test_search_with_the_shortlist_rule_is_its_own_study(trained, nb201_table_path, tmp_path,
                                                         capsys):
    """Half of 6 archs are shortlisted: their scores (>= 1) beat every other (<= 0); a
    search with the other rule refuses to continue the study instead of mixing them."""
    common = ["search", "--config", "smoke", "--out", str(trained), "--no-progress",
              "--budget", "8", "--optimizer", "random", "--score", "hybrid",
              "--study", "shortlist"]
    cache = f"proxies.cache='{tmp_path}'"
    assert main([*common, *sets("evaluate.n_archs=6", cache, "proxies.rule='shortlist'",
                                "proxies.shortlist=0.5")]) == 0
    report = json.loads((trained / "search.json").read_text())
    assert report["search"]["score"]["rule"] == "shortlist"
    assert report["search"]["score"]["shortlist"] == 0.5
    scores = [t["score"] for t in report["trials_log"]]
    assert all(s >= 1 or s <= 0 for s in scores) and max(scores) >= 1
    capsys.readouterr()
    assert main([*common, *sets("evaluate.n_archs=6", cache)]) == 2
    assert "made by another search (differs in: score)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_search_reuses_the_samples_supernet_scores_only_under_its_protocol(
        trained, nb201_table_path, tmp_path):
    """Given the evaluation sample's scores (e.g. a ranking's), the hybrid search scores the
    same; scores made under another protocol are refused, not silently used."""
    from nasengine import api
    from nasengine.config import load_config
    from nasengine.errors import ConfigError

    config = load_config("smoke", [*SMOKE, "evaluate.n_archs=6", f"proxies.cache='{tmp_path}'"])
    pipe = api.build(config, progress=False)
    api._load_trained(pipe, trained)
    evaluator = pipe.evaluator()
    given = {"scores": evaluator.score_many(pipe.arch_sample(), progress=False),
             "protocol": {**evaluator.describe(), "seconds": 1.0}}
    runs = {}
    for name, reference in (("fresh", None), ("reused", given)):
        report = api.search(config, trained, "random", 3, 0, progress=False, score="hybrid",
                            study=f"reuse-{name}", reference=reference)
        runs[name] = [(t["arch"], t["score"]) for t in report["trials_log"]]
    assert runs["fresh"] == runs["reused"]
    other = {**given["protocol"], "eval_images": 128}
    for bad in ({**given, "scores": given["scores"][:5]}, {**given, "protocol": other}):
        with pytest.raises(ConfigError, match="not this search's"):
            api.search(config, trained, "random", 3, 0, progress=False, score="hybrid",
                       study="reuse-bad", reference=bad)
