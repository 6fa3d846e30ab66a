"""Ranking over training: one tau per k epochs, and training results that do not move."""
import pytest
import torch

from nasengine import api
from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.tracking import read_track
from nasengine.train import read_metrics

TINY = ["supernet.channels=4", "data.train_limit=256", "train.batch_size=64",
        "evaluate.eval_images=128", "evaluate.track_archs=6"]


def _config(oracle, *extra):
    return load_config("smoke", TINY + [f'evaluate.oracle="{oracle}"', *extra])


def test_tracking_logs_tau_every_k_epochs_and_leaves_training_bit_exact(
        cifar10_path, synthetic_nb201, tmp_path):
    plain = api.build(_config(synthetic_nb201, "train.epochs=2"), progress=False)
    plain.trainer(tmp_path / "plain").fit()
    tracked = api.build(_config(synthetic_nb201, "train.epochs=2", "evaluate.track_every=1",
                                "evaluate.bn=\"recalibrate\"", "evaluate.recal_batches=2"),
                        progress=False)
    tracked.trainer(tmp_path / "tracked").fit()

    a, b = plain.supernet.state_dict(), tracked.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in read_metrics(tmp_path / "plain")] == \
        [r["loss"] for r in read_metrics(tmp_path / "tracked")]
    track = read_track(read_metrics(tmp_path / "tracked"))
    assert [epoch for epoch, _ in track] == [1, 2]
    assert all(-1 <= tau <= 1 for _, tau in track)
    assert read_metrics(tmp_path / "tracked")[0]["track"]["archs"] == 6


def test_tracking_with_forked_scorers_logs_the_serial_taus(cifar10_path, synthetic_nb201,
                                                             tmp_path):
    taus = {}
    for workers in (1, 2):
        pipe = api.build(_config(synthetic_nb201, "train.epochs=1", "evaluate.track_every=1",
                                 "evaluate.track_archs=20",  # chunks of 8: forks from 9 on
                                 f"evaluate.workers={workers}"), progress=False)
        pipe.trainer(tmp_path / str(workers)).fit()
        taus[workers] = read_track(read_metrics(tmp_path / str(workers)))
    assert taus[2] == taus[1] and len(taus[1]) == 1
    assert read_metrics(tmp_path / "2")[0]["track"]["archs"] == 20


def test_tracking_every_two_epochs_survives_a_resume(cifar10_path, synthetic_nb201, tmp_path):
    config = _config(synthetic_nb201, "train.epochs=4", "evaluate.track_every=2")
    api.build(config, progress=False).trainer(tmp_path).fit(stop_after=3)
    api.build(config, progress=False).trainer(tmp_path).fit(resume=True)
    assert [epoch for epoch, _ in read_track(read_metrics(tmp_path))] == [2, 4]


def test_tracking_refuses_bad_settings(cifar10_path, synthetic_nb201, tmp_path):
    for bad, match in (("evaluate.track_every=-1", "track_every"),
                       ("evaluate.track_archs=2", "track_archs")):
        with pytest.raises(ConfigError, match=match):  # when loaded (validation) or built
            config = _config(synthetic_nb201, "train.epochs=1", "evaluate.track_every=1", bad)
            api.build(config, progress=False).trainer(tmp_path)
