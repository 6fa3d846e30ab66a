"""A tiny study end to end: every column, resume with finished cells, refused protocols."""
import json
import os
import shutil

import pytest

from nasengine import api
from nasengine.cli import main
from nasengine.errors import ConfigError
from nasengine.study import load_study, run_study
from nasengine.study.analysis import COLUMNS
from nasengine.study.cell import load_result, run_cell
from nasengine.study.queue import LOCK, claim, release


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_study, cifar10_path):
    """The tiny study, run once in two worker processes (module-scoped: it trains 4 cells)."""
    root = tmp_path_factory.mktemp("study")
    path = root / "tiny.toml"
    path.write_text(tiny_study)
    lines = []
    report = run_study(load_study(path), root / "out", workers=2, log=lines.append)
    return path, root / "out", report, lines


@pytest.mark.slow
def test_tiny_study_reports_every_column_for_every_method(finished):
    _, out, report, lines = finished
    assert lines[-1].startswith("study: 4 of 4 cells to run, 2 worker(s)")
    assert report["methods"] == ["uniform", "PA&DA"] and not report["missing"]
    assert report["references"] == ["#params", "FLOPs"]
    for name in ("uniform", "PA&DA", "#params", "FLOPs"):
        row = report["rows"][name]
        assert set(COLUMNS) <= set(row)
        assert len(row["kendall_tau"]["per_seed"]) == 2
        lo, hi = row["kendall_tau"]["ci95"]
        assert lo <= hi and -1 <= row["kendall_tau"]["mean"] <= 1
    assert report["budget"] == {"epochs": 1, "train_images": 256, "images_seen": 256, "steps": [4]}
    assert report["protocol"]["n_archs"] == 20 and report["protocol"]["eval_images"] == 128
    assert set(report["paired"]) == {"PA&DA", "#params", "FLOPs"}
    markdown = (out / "study.md").read_text()
    assert all(title in markdown for title in COLUMNS.values())
    assert "1 epochs x 256 training images" in markdown
    for name in ("study.json", "seeds_tau.png", "scatter.png", "tau_epochs.png", "figures.csv",
                 "scatter.csv", "tau_epochs.csv"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "study.json").read_text())["rows"].keys() == report["rows"].keys()


@pytest.mark.slow
def test_tau_over_epochs_has_one_entry_per_seed_and_tracked_epoch(finished):
    _, out, report, _ = finished
    assert {m: {e: len(v) for e, v in curve.items()} for m, curve in report["track"].items()} \
        == {"uniform": {"1": 2}, "PA&DA": {"1": 2}}
    assert len((out / "tau_epochs.csv").read_text().splitlines()) == 1 + 4
    markdown = (out / "study.md").read_text()
    assert "| method | ep 1 |" in markdown  # the curve's numbers, readable without the plot
    for method, curve in report["track"].items():
        taus = curve["1"]
        mean, std = sum(taus) / 2, abs(taus[0] - taus[1]) / 2 ** 0.5
        assert f"| {method} | {mean:+.2f} ± {std:.2f} |" in markdown


@pytest.mark.slow
def test_resume_reruns_only_unfinished_cells_and_refuses_another_protocol(finished, tmp_path):
    path, out, report, _ = finished
    lines = []
    again = run_study(load_study(path), out, log=lines.append)
    assert lines == [] and again["rows"]["uniform"] == report["rows"]["uniform"]

    # a cell killed after training, before ranking: only it runs, from its checkpoint
    (out / "cells" / "PADA" / "seed1" / "cell.json").unlink()
    before = (out / "cells" / "PADA" / "seed1" / "metrics.jsonl").read_text()
    lines = []
    again = run_study(load_study(path), out, log=lines.append)
    assert lines[0].startswith("study: 1 of 4 cells to run") and len(lines) == 2
    assert (out / "cells" / "PADA" / "seed1" / "metrics.jsonl").read_text() == before
    assert again["rows"]["PA&DA"]["kendall_tau"] == report["rows"]["PA&DA"]["kendall_tau"]

    other = path.read_text().replace("eval_images = 128", "eval_images = 96")
    (tmp_path / "other.toml").write_text(other)
    with pytest.raises(ConfigError, match=r"cells/uniform/seed0 was made under another "
                                          r"protocol.*evaluate.eval_images: 128 -> 96"):
        run_study(load_study(tmp_path / "other.toml"), out)


@pytest.mark.slow
def test_report_only_cli_prints_the_table_and_bad_input_exits_2(finished, capsys):
    path, out, _, _ = finished
    assert main(["study", str(path), "--out", str(out), "--report-only"]) == 0
    printed = capsys.readouterr().out
    assert "PA&DA: Kendall tau" in printed and "#params: Kendall tau" in printed
    assert main(["study", str(path.with_name("missing.toml")), "--out", str(out)]) == 2
    assert "study config" in capsys.readouterr().err


@pytest.mark.slow
def test_api_study_is_the_same_report(finished):
    path, out, report, _ = finished
    assert api.study(path, out, report_only=True, progress=False)["rows"]["#params"] == \
        report["rows"]["#params"]


@pytest.mark.slow
def test_a_run_ranked_under_the_cells_config_joins_without_scoring_again(finished, tmp_path):
    path, out, _, _ = finished
    cell = next(c for c in load_study(path).cells(tmp_path / "joined")
                if (c.method, c.seed) == ("uniform", 0))
    trained = out / "cells" / "uniform" / "seed0"
    shutil.copytree(trained, cell.path, ignore=shutil.ignore_patterns("cell.json", ".*"))
    api.rank(cell.config, cell.path, progress=False)  # as a user's `nasengine rank` would
    original = load_result(next(c for c in load_study(path).cells(out)
                                if (c.method, c.seed) == ("uniform", 0)))
    joined = run_cell(cell)
    assert joined["scored_by"] == "the run's ranking.json"
    assert joined["scores"] == original["scores"] and joined["archs"] == original["archs"]

    ranking = json.loads((cell.path / "ranking.json").read_text())
    del ranking["config"]["train"]["sync_bn"]  # a report older than a field: its default
    (cell.path / "ranking.json").write_text(json.dumps(ranking))
    assert run_cell(cell)["scored_by"] == "the run's ranking.json"

    ranking["config"]["evaluate"]["eval_images"] = 96  # ranked under another protocol
    (cell.path / "ranking.json").write_text(json.dumps(ranking))
    rescored = run_cell(cell)
    assert rescored["scored_by"] == "the study" and rescored["scores"] == original["scores"]


@pytest.mark.slow
def test_proxies_are_reference_rows_beside_the_same_cells(finished, tmp_path):
    path, out, report, _ = finished
    proxies = ('proxies = { names = ["naswot", "params"], channels = 4, cells = 1, '
               f'batch_size = 8, cache = "{tmp_path / "cache"}" }}\n')
    with_proxies = tmp_path / "proxies.toml"
    with_proxies.write_text(path.read_text().replace("[config]\n", "[config]\n" + proxies))
    lines = []
    again = run_study(load_study(with_proxies), out, log=lines.append)
    assert lines == []  # every finished cell is reused: proxies change no cell
    assert again["references"] == ["#params", "FLOPs", "naswot", "params"]
    assert again["rows"]["uniform"] == report["rows"]["uniform"]
    for name in ("naswot", "params"):
        assert len(again["rows"][name]["kendall_tau"]["per_seed"]) == 2
    assert {"naswot", "params"} <= set(again["paired"])


def test_methods_may_not_change_the_budget_or_protocol(write_study, tmp_path):
    path = write_study('\n[methods.long]\ntrain.epochs = 2\n', name="unfair.toml")
    with pytest.raises(ConfigError, match=r"method 'long' changes the training budget.*epochs"):
        load_study(path).cells(tmp_path)
    path = write_study('\n[methods.held]\ndata.valid_images = 32\n', name="held.toml")
    with pytest.raises(ConfigError, match=r"data.valid_images: 0 -> 32.*\[config\]"):
        load_study(path).cells(tmp_path)


def test_a_typo_in_a_method_names_the_method_and_the_key(write_study, tmp_path):
    path = write_study('\n[methods.typo]\ntrain.epochz = 2\n', name="typo.toml")
    with pytest.raises(ConfigError, match=r"study cell 'typo'.*unknown config key.*epochz"):
        load_study(path).cells(tmp_path)


def test_any_registered_sampler_is_a_method_by_name_and_unknown_ones_are_listed(
        write_study, tmp_path):
    path = write_study('\n[methods.mystery]\nsampler.name = "nope"\n', name="bad.toml")
    with pytest.raises(ConfigError, match="unknown sampler 'nope'; known: .*pada.*uniform"):
        load_study(path).cells(tmp_path)


def test_an_unknown_proxy_fails_before_the_study_writes_anything(write_study, tmp_path):
    path = write_study('\n[config.proxies]\nnames = ["nope"]\n', name="proxy.toml")
    with pytest.raises(ConfigError, match="unknown proxy 'nope'"):
        run_study(load_study(path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_study_file_errors_name_the_problem(write_study):
    path = write_study(name="typo.toml")
    path.write_text("workerz = 2\n" + path.read_text())
    with pytest.raises(ConfigError, match=r"unknown study key\(s\) \['workerz'\]"):
        load_study(path)
    path.write_text(path.read_text().replace("workerz = 2", "").replace(
        'baseline = "uniform"', 'baseline = "nope"'))
    with pytest.raises(ConfigError, match="baseline 'nope' is not a method"):
        load_study(path)


def test_a_claim_of_a_dead_process_is_taken_over_and_a_live_one_is_not(tmp_path):
    cell = tmp_path / "cell"
    assert claim(cell)
    assert (cell / LOCK).read_text() == str(os.getpid())
    assert not claim(cell) or (cell / LOCK).read_text() == str(os.getpid())
    release(cell)
    cell.mkdir(exist_ok=True)
    (cell / LOCK).write_text("999999999")  # no such process
    assert claim(cell) and (cell / LOCK).read_text() == str(os.getpid())
    (cell / LOCK).write_text("1")  # init: alive
    assert not claim(cell)


@pytest.mark.slow
def test_another_baseline_retests_the_same_cells_without_training(finished, tmp_path, capsys):
    path, out, report, _ = finished
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    assert main(["study", str(path), "--out", str(copy), "--report-only",
                 "--baseline", "PA&DA"]) == 0
    again = json.loads((copy / "study.json").read_text())
    assert again["baseline"] == "PA&DA" and "uniform" in again["paired"]
    assert "PA&DA" not in again["paired"]
    assert again["paired"]["uniform"]["delta"] == pytest.approx(-report["paired"]["PA&DA"]["delta"])
    assert again["rows"] == report["rows"]
    assert main(["study", str(path), "--out", str(copy), "--baseline", "nope"]) == 2
    assert "baseline 'nope' is not a method" in capsys.readouterr().err
