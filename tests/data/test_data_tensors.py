"""The generic tensor dataset: any image set (here scikit-learn's digits) runs the pipeline."""
import json

import pytest
import torch

from nasengine.cli import main
from nasengine.data import load_dataset, save_tensors
from nasengine.errors import ConfigError, DataError


def test_a_saved_tensor_set_loads_with_grey_repeated_to_rgb(tmp_path):
    images = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    path = save_tensors(tmp_path / "set.pt", ["a", "b"], train=(images, [0, 1, 1, 0, 1]),
                        test=(images[:2], [1, 0]))
    train = load_dataset("tensors", path, "train")
    assert train.images.shape == (5, 3, 8, 8) and train.labels.tolist() == [0, 1, 1, 0, 1]
    assert torch.equal(train.images[:, 2], images[:, 0]) and train.classes == ["a", "b"]
    assert len(load_dataset("tensors", path, "test")) == 2


def test_bad_tensor_sets_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="reads data.source, a .pt file"):
        load_dataset("tensors", None, "train")
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(DataError, match="not a readable tensor file"):
        load_dataset("tensors", tmp_path / "junk.pt", "train")
    path = save_tensors(tmp_path / "t.pt", ["a"], train=(torch.zeros(2, 1, 4, 4), [0, 3]))
    with pytest.raises(DataError, match="no 'test' split"):
        load_dataset("tensors", path, "test")
    with pytest.raises(DataError, match="labels must lie in"):
        load_dataset("tensors", path, "train")
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'; known: cifar10, cifar100, "
                                          "tensors"):
        load_dataset("mnist", None, "train")


@pytest.mark.slow
def test_the_worked_example_trains_ranks_and_searches_on_digits(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from examples.digits import write_digits

    data = write_digits(tmp_path / "digits.pt")
    args = ["--config", "examples/tiny_cnn.toml", "--out", str(tmp_path / "run"),
            "--no-progress", "--set", 'data.dataset="tensors"', "--set", f'data.source="{data}"',
            "--set", "data.augment=false", "--set", "train.epochs=2", "--set",
            "evaluate.n_archs=8", "--set", "evaluate.eval_images=360"]
    assert main(["run", *args]) == 0
    assert "no ground truth for this space" in capsys.readouterr().out
    report = json.loads((tmp_path / "run" / "ranking.json").read_text())
    assert report["supernet"]["top"][0]["score"] > 30  # 10 classes: chance is 10%
    assert main(["search", *args, "--budget", "8", "--max-params", "0.02"]) == 0
    search = json.loads((tmp_path / "run" / "search.json").read_text())
    assert search["trials"] == 8 and search["best"]["score"] > 30
