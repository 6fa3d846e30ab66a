import pytest

from nasengine.config import load_config
from nasengine.errors import ConfigError


def test_presets_load_and_overrides_apply():
    cfg = load_config("demo", ["train.epochs=2", "evaluate.bn=recalibrate", "seed=7"])
    assert cfg.train.epochs == 2 and cfg.evaluate.bn == "recalibrate" and cfg.seed == 7
    assert cfg.supernet.space == "nb201"


def test_unknown_keys_and_presets_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key.*epochz"):
        load_config("demo", ["train.epochz=2"])
    with pytest.raises(ConfigError, match="presets"):
        load_config("no-such-preset")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_fingerprint_ignores_evaluation_settings():
    a = load_config("demo", ["evaluate.n_archs=10"])
    b = load_config("demo")
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != load_config("demo", ["train.lr=0.1"]).fingerprint()


def test_a_sync_bn_run_is_fingerprinted_as_the_whole_batch_run():
    """SyncBN's maths is whole batches', so either resumes the other at any world size;
    runs without it keep the fingerprint they had before the field existed."""
    whole = load_config("smoke").fingerprint()
    assert "sync_bn" not in whole["train"]
    synced = load_config("smoke", ["train.data_parallel=2", "train.sync_bn=true"])
    assert synced.fingerprint() == whole
    assert load_config("smoke", ["train.data_parallel=2"]).fingerprint() != whole
