"""A tiny study file: 2 methods x 2 seeds, 256 images, 1 epoch, against a synthetic table."""
from __future__ import annotations

from pathlib import Path

import pytest

TINY = """
preset = "smoke"
seeds = [0, 1]
baseline = "uniform"
title = "tiny"

[config]
supernet.channels = 4
data.train_limit = 256
train = {{ epochs = 1, batch_size = 64 }}
evaluate = {{ n_archs = 20, eval_images = 128, bootstrap = 50, track_every = 1, track_archs = 5, oracle = "{oracle}" }}

[methods.uniform]
sampler.name = "uniform"

[methods."PA&DA"]
sampler = {{ name = "pada", options = {{ path = true, data = true }} }}
"""


@pytest.fixture(scope="session")
def tiny_study(synthetic_nb201) -> str:
    """The tiny study's TOML text, ranked against the synthetic table."""
    return TINY.format(oracle=synthetic_nb201)


@pytest.fixture
def write_study(tmp_path, tiny_study):
    """``write_study(extra="")``: the tiny study TOML (plus ``extra`` lines) in tmp_path."""
    def write(extra: str = "", name: str = "tiny.toml") -> Path:
        path = tmp_path / name
        path.write_text(tiny_study + extra)
        return path

    return write
