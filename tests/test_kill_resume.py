"""Training killed anywhere (also inside checkpoint writes) resumes bit-exactly.

Separate processes, real SIGKILLs, real CIFAR-10 (a smoke-sized slice): each run is
killed several times, alternately the moment a checkpoint write starts and at a
random time, then finished with ``--resume``, and compared with a run never
interrupted: weights, optimizer, scheduler, sampler, RNG and history all equal.
"""
from __future__ import annotations

import random

import pytest

from nasengine.faults import differences, kill_and_resume, run_to_end, train_command

SMALL = ["supernet.channels=2", "data.train_limit=192", "train.batch_size=64", "train.epochs=3"]
CASES = {  # name: (overrides, kills)
    "uniform": ([], 3),
    "pada": (["sampler.name=pada"], 2),
    "fewshot-gm": (["fewshot.strategy=gm", "fewshot.warmup_epochs=1", "fewshot.splits=1",
                   "fewshot.options.batches=1"], 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_killed_training_resumes_bit_exactly(cifar10_path, tmp_path, case):
    extra, kills = CASES[case]
    overrides = SMALL + extra
    run_to_end(train_command(tmp_path / "whole", "smoke", overrides, resume=False))
    log = kill_and_resume(tmp_path / "killed", "smoke", overrides, kills=kills,
                          rng=random.Random(case), max_delay=4.0)
    assert log.inside_writes >= 1  # at least one kill landed inside a checkpoint write
    assert differences(tmp_path / "whole", tmp_path / "killed") == []
    assert not list((tmp_path / "killed").glob(".*.tmp"))  # leftovers were cleaned up
