"""Split-batch steps: the same gradient as the whole batch, merged statistics, clear misuse."""
from __future__ import annotations

import os
import platform

import pytest
import torch

from nasengine.device import tune_cpu_allocator
from nasengine.errors import ConfigError
from nasengine.parallel import ThreadSplit, WholeBatch, step_runner
from nasengine.families import get_family

ARCH = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


@pytest.fixture
def supernet():
    torch.manual_seed(0)
    return get_family("nb201").build_supernet(channels=4, cells=1)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(12, 3, 32, 32, generator=gen), torch.randint(0, 10, (12,), generator=gen)


def arch():
    return get_family("nb201").space().parse(ARCH)


def step(runner, model, x, y, weights=None):
    model.zero_grad(set_to_none=True)
    with runner.session():
        out = runner.run(model, list(model.parameters()), arch(), x, y, weights)
    return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("parts", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_split_gradient_equals_the_whole_batch_gradient(supernet, batch, parts, weighted):
    """With no layer coupling examples (BN on running statistics) splitting changes nothing."""
    x, y = batch
    weights = torch.linspace(0.5, 1.5, len(y)) if weighted else None
    supernet.eval()
    whole, g_whole = step(WholeBatch(), supernet, x, y, weights)
    split, g_split = step(ThreadSplit(parts), supernet, x, y, weights)
    assert g_whole.keys() == g_split.keys() and g_whole
    for name in g_whole:
        torch.testing.assert_close(g_split[name], g_whole[name], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(split.logits, whole.logits)  # in batch order
    torch.testing.assert_close(split.per_example, whole.per_example)


def test_running_statistics_are_the_mean_of_the_parts(supernet, batch):
    """BN momentum updates from equal halves average to the whole batch's mean update."""
    x, y = batch
    supernet.train()
    stem_bn = supernet.network.stem[1]
    before = stem_bn.running_mean.clone()
    step(ThreadSplit(2), supernet, x, y)
    with torch.no_grad():
        batch_mean = supernet.network.stem[0](x).mean((0, 2, 3))
    expected = (1 - stem_bn.momentum) * before + stem_bn.momentum * batch_mean
    torch.testing.assert_close(stem_bn.running_mean, expected, rtol=1e-5, atol=1e-6)
    assert int(stem_bn.num_batches_tracked) == 1  # one step, counted once


def test_split_steps_are_deterministic(supernet, batch):
    import copy

    twin = copy.deepcopy(supernet)
    x, y = batch
    _, a = step(ThreadSplit(2), supernet, x, y)
    _, b = step(ThreadSplit(2), twin, x, y)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_batch_too_small_to_split_runs_whole(supernet):
    x, y = torch.randn(3, 3, 32, 32), torch.tensor([1, 2, 3])
    supernet.train()
    out, grads = step(ThreadSplit(2), supernet, x, y)
    assert out.logits.shape == (3, 10) and grads


def test_split_restores_the_thread_count_and_needs_its_session(supernet, batch):
    before = torch.get_num_threads()
    runner = ThreadSplit(2)
    with runner.session():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="session"):
        runner.run(supernet, list(supernet.parameters()), arch(), *batch, None)


def test_step_runner_choice_and_bad_values():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert isinstance(step_runner(2, cpu, lambda: None), ThreadSplit)
    assert isinstance(step_runner(1, cpu, lambda: None), WholeBatch)
    assert isinstance(step_runner(2, cuda, lambda: None), WholeBatch)  # GPUs run whole batches
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(ConfigError, match="train.data_parallel"):
            step_runner(bad, cpu, lambda: None)
    for device in (cpu, cuda):  # SyncBN gathers over torchrun's processes: none here
        with pytest.raises(ConfigError, match="train.sync_bn = true .* one process; here the "
                                              "same run is --set train.data_parallel=1"):
            step_runner(2, device, lambda: None, sync_bn=True)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or "MALLOC_MMAP_THRESHOLD_" in os.environ,
                    reason="allocator tuning is glibc's, and the environment may override it")
def test_allocator_tuning_applies_once_on_glibc():
    assert tune_cpu_allocator() is True
    assert tune_cpu_allocator() is True  # idempotent
