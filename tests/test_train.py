"""Training on a slice of real CIFAR-10: exact resume, clear failures."""
import json

import pytest
import torch

from nasengine import api
from nasengine.config import load_config
from nasengine.errors import CheckpointError, TrainingError
from nasengine.samplers import UniformSampler
from nasengine.families import get_family
from nasengine.train import Trainer, read_metrics

TINY = ["supernet.channels=4", "data.train_limit=512", "train.batch_size=64", "train.epochs=2"]


@pytest.fixture
def config(cifar10_path):
    return load_config("smoke", TINY)


@pytest.mark.parametrize("parts", [1, 2])
def test_resume_after_interruption_equals_uninterrupted_run(config, tmp_path, parts):
    """Exact, also with batches split over threads (its merges run in a fixed order)."""
    config.train.data_parallel = parts
    full = api.build(config, progress=False)
    full.trainer(tmp_path / "full").fit()

    first = api.build(config, progress=False)
    first.trainer(tmp_path / "cut").fit(stop_after=1)  # "interrupted" after epoch 1
    resumed = api.build(config, progress=False)  # a fresh process would start like this
    resumed.trainer(tmp_path / "cut").fit(resume=True)

    a, b = full.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in read_metrics(tmp_path / "full")] == \
        [r["loss"] for r in read_metrics(tmp_path / "cut")]


def test_resume_refuses_a_checkpoint_of_another_config(config, tmp_path):
    api.build(config, progress=False).trainer(tmp_path).fit(stop_after=1)
    other = load_config("smoke", TINY + ["train.lr=0.2"])
    with pytest.raises(CheckpointError, match="train.lr: 0.05 -> 0.2"):
        api.build(other, progress=False).trainer(tmp_path).fit(resume=True)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(config, tmp_path):
    pipe = api.build(config, progress=False)
    trainer = pipe.trainer(tmp_path)
    trainer.fit(stop_after=1)
    saved = (tmp_path / "checkpoint.pt").read_bytes()
    with torch.no_grad():
        next(pipe.supernet.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingError, match="lower train.lr"):
        trainer.fit()
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved


@pytest.mark.slow
def test_end_to_end_run_writes_a_report(cifar10_path, nb201_table_path, tmp_path,
                                        check_ranking):
    config = load_config("smoke")
    report = api.run(config, tmp_path, progress=False)
    for name in ("checkpoint.pt", "metrics.jsonl", "ranking.json", "ranking.md", "ranking.png",
                 "scores.csv"):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "ranking.json").read_text())
    assert saved["protocol"]["bn"] == "batch" and saved["protocol"]["n_archs"] == 20
    assert check_ranking(tmp_path, nb201_table_path, 20) == report
    assert "#params proxy" in (tmp_path / "ranking.md").read_text()


class _FixedLoader:
    """The same batches every epoch (what the trainer needs of a loader)."""

    def __init__(self, batches) -> None:
        self.batches = batches

    def set_epoch(self, epoch, index_sampler=None) -> None:
        pass

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class _WeightingSampler(UniformSampler):
    """Uniform paths whose per-example loss factors are a fixed value (tests the hook)."""

    def __init__(self, space, value: float) -> None:
        super().__init__(space, seed=0)
        self.value = value

    def loss_weights(self, arch, indices):
        return torch.full((len(indices),), self.value)


@pytest.mark.parametrize("value,moves", [(0.0, False), (1.0, True)])
def test_trainer_applies_the_samplers_loss_weights(value, moves, tmp_path):
    """Zero weights leave the weights untouched (no gradient, no decay); ones train."""
    config = load_config("smoke", ["train.weight_decay=0", "train.epochs=1"])
    torch.manual_seed(0)
    family = get_family("nb201")
    net = family.build_supernet(channels=4, cells=1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    loader = [(x, y, torch.arange(8))]
    trainer = Trainer(net, _WeightingSampler(family.space(), value), _FixedLoader(loader),
                      config.train, tmp_path, config.fingerprint())
    trainer.fit()
    changed = any(not torch.equal(before[k], v) for k, v in net.state_dict().items()
                  if k.endswith("weight"))
    assert changed is moves
