"""Rankings on a space without ground truth, and with a generic CSV keyed by its arch strings."""
import csv
import json

import pytest

from nasengine import api
from nasengine.cli import main
from nasengine.config import load_config
from nasengine.errors import ConfigError

MACRO = ['supernet.space="macro"', "supernet.channels=2", "data.train_limit=128",
         "train.batch_size=64", "evaluate.n_archs=6", "evaluate.eval_images=64"]


@pytest.fixture(scope="module")
def trained(cifar10_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("macro")
    assert main(["run", "--config", "smoke", "--out", str(out), "--no-progress"]
                + [f"--set={s}" for s in MACRO]) == 0  # train + rank, no crash
    return out


@pytest.mark.slow
def test_run_on_a_space_without_ground_truth_ranks_with_no_tau(trained, capsys):
    report = json.loads((trained / "ranking.json").read_text())
    assert report["protocol"]["oracle"] is None and "kendall_tau" not in report["supernet"]
    top = report["supernet"]["top"]
    assert len(top) == 6 and top[0]["score"] >= top[-1]["score"] > 0
    assert all(t["params_M"] > 0 for t in top)
    assert "no ground truth" in (trained / "ranking.md").read_text()


@pytest.mark.slow
def test_a_csv_keyed_by_the_spaces_arch_strings_is_its_ground_truth(trained, tmp_path):
    config = load_config("smoke", MACRO)
    pipe = api.build(config, progress=False)
    names = [pipe.space.format(a) for a in pipe.arch_sample()]
    table = tmp_path / "truth.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", "cifar10_test_acc"])
        writer.writerows((n, 50 + i) for i, n in enumerate(names))
    config = load_config("smoke", MACRO + [f'evaluate.oracle="{table}"'])
    report = api.rank(config, trained, progress=False, report_dir=tmp_path)
    assert report["protocol"]["oracle"] == "cifar10/test"
    assert -1 <= report["supernet"]["kendall_tau"] <= 1
    assert report["supernet"]["regret"] == pytest.approx(55 - report["supernet"]["top1_true_acc"])
    wrong = load_config("smoke", MACRO + [f'evaluate.oracle="{table}"',
                                          'evaluate.oracle_dataset="cifar100"'])
    with pytest.raises(ConfigError, match="no column 'cifar100_test_acc'"):
        api.rank(wrong, trained, progress=False, report_dir=tmp_path)


def test_the_truth_follows_the_oracle_settings(synthetic_nb201):
    """A pipeline asked for another dataset's truth gets that truth, not the first one it
    loaded (a report against CIFAR-10 and then CIFAR-100 from one pipeline)."""
    pipe = api.build(load_config("smoke", [f"evaluate.oracle={json.dumps(str(synthetic_nb201))}"]),
                     progress=False)
    arch = pipe.space.format(pipe.arch_sample()[0])
    c10 = pipe.ground_truth.accuracies([arch])[0]
    pipe.config.evaluate.oracle_dataset = "cifar100"
    c100 = pipe.ground_truth.accuracies([arch])[0]
    assert c100 < c10 - 10  # the synthetic CIFAR-100 column sits 20 points lower
    pipe.config.evaluate.oracle_dataset = "cifar10"
    assert pipe.ground_truth.accuracies([arch])[0] == c10
