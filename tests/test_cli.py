"""The CLI commands ``info``, ``train``, ``rank`` and ``run`` as a user runs them (``main(argv)``),
on a small synthetic image set and the synthetic NB201 table, so they run everywhere."""
from __future__ import annotations

import json

import pytest
import torch

from nasengine.cli import main
from nasengine.train import read_metrics

ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Ten classes told apart by brightness (a signal a supernet learns in one epoch)."""
    from nasengine.data import save_tensors

    gen = torch.Generator().manual_seed(0)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % 10
        noise = torch.randint(0, 40, (n, 3, 32, 32), generator=gen)
        return (noise + 20 * labels.view(-1, 1, 1, 1)).clamp(0, 255), labels

    return save_tensors(tmp_path_factory.mktemp("images") / "bright.pt",
                        [str(c) for c in range(10)], train=split(512), test=split(128))


@pytest.fixture(scope="module")
def argv(images, synthetic_nb201):
    """A run on the synthetic data, judged against the synthetic NB201 table."""
    sets = [f"data.dataset={json.dumps('tensors')}", f"data.source={json.dumps(str(images))}",
            f"evaluate.oracle={json.dumps(str(synthetic_nb201))}", "train.epochs=2",
            "train.lr=0.1", "evaluate.n_archs=12", "evaluate.eval_images=128",
            "evaluate.bootstrap=50"]
    return lambda command, out: [command, "--config", "smoke", "--out", str(out), "--no-progress",
                                 *[f"--set={s}" for s in sets]]


def test_info_prints_the_space_and_an_archs_complexity(capsys):
    assert main(["info"]) == 0
    space = json.loads(capsys.readouterr().out)
    assert space["size"] == 15625 and len(space["decisions"]) == 6
    assert main(["info", "--arch", ALL_CONV]) == 0
    arch = json.loads(capsys.readouterr().out)
    # NB201's own figures for this arch at its C=16, N=5 (params_M / flops_M of the table)
    assert arch["arch"] == ALL_CONV and (arch["params"], arch["flops"]) == (1531546, 220119690)


def test_info_refuses_an_unknown_arch_in_one_line(capsys):
    assert main(["info", "--arch", "|conv_5x5~0|"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nasengine: error:") and len(err.strip().splitlines()) == 1


def test_train_then_rank_judges_the_supernet_against_the_table(argv, synthetic_nb201,
                                                               check_ranking, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(argv("train", out)) == 0
    assert f"trained: {out / 'checkpoint.pt'}" in capsys.readouterr().out
    losses = [r["loss"] for r in read_metrics(out)]
    assert len(losses) == 2 and losses[1] < losses[0]  # it learns the brightness classes
    assert main(argv("rank", out)) == 0
    printed = capsys.readouterr().out
    report = check_ranking(out, synthetic_nb201, 12)
    assert report["protocol"]["checkpoint"] == {"epoch": 2, "epochs": 2, "finished": True}
    tau = report["supernet"]["kendall_tau"]
    assert f"Kendall tau  supernet {tau:+.3f}" in printed and "The supernet (" in printed


def test_run_trains_and_ranks_and_continues_a_finished_run(argv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(argv("run", out)) == 0
    first = json.loads((out / "ranking.json").read_text())
    assert "Kendall tau  supernet" in capsys.readouterr().out
    assert main(argv("run", out)) == 2  # a finished run is not silently overwritten
    assert "--resume" in capsys.readouterr().err
    assert main(argv("run", out) + ["--resume"]) == 0
    again = json.loads((out / "ranking.json").read_text())
    assert again["supernet"] == first["supernet"]  # nothing more to train: the same ranking


def test_search_picks_by_the_supernet_and_reports_the_tables_regret(argv, synthetic_nb201,
                                                                   table_truth, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(argv("train", out)) == 0
    search = argv("search", out) + ["--budget", "6", "--optimizer", "random"]
    assert main(search) == 0
    report = json.loads((out / "search.json").read_text())
    truth = table_truth(synthetic_nb201)
    trials = report["trials_log"]
    assert report["trials"] == len(trials) == 6
    best = max(trials, key=lambda t: t["score"])  # the supernet's favourite among the trials
    assert report["best"]["arch"] == best["arch"]
    assert report["best"]["true_acc"] == pytest.approx(truth[best["arch"]])
    assert report["best"]["regret"] == pytest.approx(max(truth.values()) - truth[best["arch"]])
    assert "regret" in capsys.readouterr().out
