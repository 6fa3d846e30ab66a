"""A tiny NB201 supernet, its sampler context and the trainer's loop, for sampler tests.

The context has everything a learning sampler may bind to: held-out batches, a
complexity measure, and a training-free prior from real proxies on stand-alone C4N1
nets scored on 8 random images (cached in a temporary folder), so no test needs data files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch
import torch.nn.functional as F

from nasengine.families import get_family
from nasengine.proxies.setup import prior_scores
from nasengine.proxies.table import ProbeSetup, ProxyTable
from nasengine.samplers import Sampler, StepFeedback
from nasengine.samplers.base import SamplerContext

STEPS, BATCH = 4, 4
COST = {"none": 0.0, "skip_connect": 0.0, "avg_pool_3x3": 0.0, "nor_conv_1x1": 1.0,
        "nor_conv_3x3": 9.0}


def batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(k)
    return torch.randn(BATCH, 3, 8, 8, generator=gen), torch.randint(0, 10, (BATCH,), generator=gen)


def tiny_prior(cache: Path) -> Callable:
    """The ensemble prior of stand-alone C4N1 nets on 8 random images (cached in ``cache``)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(8, 3, 32, 32, generator=gen), torch.randint(0, 10, (8,), generator=gen)
    table = ProxyTable(get_family("nb201"), ProbeSetup("nb201", batch_size=8,
                                                       net={"channels": 4, "cells": 1}),
                       images, cache=cache)
    return lambda archs: prior_scores(table, archs, ["ensemble"], progress=False)


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> SamplerContext:
    torch.manual_seed(0)
    net = get_family("nb201").build_supernet(channels=2, cells=1)
    params = lambda arch: {"params": 1.0 + sum(COST[op] for op in arch.values()),  # noqa: E731
                           "flops": 10.0 + sum(COST[op] for op in arch.values())}
    return SamplerContext(net, torch.device("cpu"), params, valid_batch=lambda k: batch(1000 + k % 3),
                          valid_batches=3,
                          proxy_scores=tiny_prior(tmp_path_factory.mktemp("proxies")))


@pytest.fixture(scope="module")
def drive(context) -> Callable[..., Sampler]:
    """``drive(sampler, epochs=2, run_epochs=3)``: bind and run ``epochs`` epochs of the
    trainer's loop (gradients, no weight update), then start the next; returns the sampler."""

    def run(sampler: Sampler, epochs: int = 2, run_epochs: int = 3) -> Sampler:
        net = context.supernet
        sampler.bind(context)
        sampler.on_train_start(run_epochs)
        for epoch in range(epochs):
            sampler.on_epoch_start(epoch)
            for step in range(STEPS):
                arch, (x, y) = sampler.sample(), batch(epoch * STEPS + step)
                net.zero_grad(set_to_none=True)
                logits = net(x, arch)
                loss = F.cross_entropy(logits, y)
                loss.backward()
                sampler.observe(StepFeedback(arch, loss.item(), logits.detach(), y,
                                             torch.arange(step * BATCH, (step + 1) * BATCH), net))
            sampler.on_epoch_end(epoch)
        net.zero_grad(set_to_none=True)
        sampler.on_epoch_start(epochs)
        return sampler

    return run
