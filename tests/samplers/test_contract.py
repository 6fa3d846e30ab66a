"""Contract every registered sampler must honour (add a sampler: it is tested here).

Each sampler is first driven through two short epochs of real learning on a tiny NB201
supernet (bound context, gradients, validation batches), so the contract is checked on
what it learned, not only on its uniform start: the default PA&DA, for one, draws from
its importance distribution by then.
"""
import pickle

import pytest
import torch
import torch.nn.functional as F

from nasengine.samplers import SAMPLERS, StepFeedback
from nasengine.samplers.base import SamplerContext
from nasengine.families import get_family
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()
EPOCHS, STEPS, BATCH = 3, 4, 4
FAST = {"enas": {"controller_steps": 2, "aggregate": 2},  # smaller, same code paths
        "shiftnas": {"bin_sample": 64, "archs_per_region": 2, "generator_steps": 2,
                     "chunks": 2}}
COST = {"none": 0.0, "skip_connect": 0.0, "avg_pool_3x3": 0.0, "nor_conv_1x1": 1.0,
        "nor_conv_3x3": 9.0}

torch.set_num_threads(1)


def batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(k)
    return torch.randn(BATCH, 3, 8, 8, generator=gen), torch.randint(0, 10, (BATCH,), generator=gen)


@pytest.fixture(scope="module")
def context() -> SamplerContext:
    torch.manual_seed(0)
    net = get_family("nb201").build_supernet(channels=2, cells=1)
    params = lambda arch: {"params": 1.0 + sum(COST[op] for op in arch.values()),  # noqa: E731
                           "flops": 10.0 + sum(COST[op] for op in arch.values())}
    return SamplerContext(net, torch.device("cpu"), params, valid_batch=lambda k: batch(1000 + k % 3),
                          valid_batches=3)


def make(name: str, seed: int):
    return SAMPLERS.create(name, FAST.get(name, {}), space=SPACE, seed=seed)


def trained(name: str, seed: int, context: SamplerContext):
    """The sampler after two epochs as the trainer drives it, at the start of the third."""
    sampler, net = make(name, seed), context.supernet
    sampler.bind(context)
    sampler.on_train_start(EPOCHS)
    for epoch in range(2):
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
    sampler.on_epoch_start(2)
    return sampler


@pytest.fixture(params=SAMPLERS.names())
def name(request) -> str:
    return request.param


def stream(sampler, n=20):
    return [SPACE.encode(sampler.sample()) for _ in range(n)]


def test_same_seed_same_stream(name, context):
    assert stream(trained(name, 1, context)) == stream(trained(name, 1, context))


def test_different_seed_different_stream(name, context):
    assert stream(trained(name, 1, context)) != stream(trained(name, 2, context))


def test_every_sampler_but_uniform_has_left_the_uniform_stream(name, context):
    """Driven alike, only ``uniform`` still draws what uniform sampling draws."""
    learned = stream(trained(name, 1, context), 50)
    assert (learned == stream(trained("uniform", 1, context), 50)) == (name == "uniform")


def test_samples_are_inside_the_space(name, context):
    sampler = trained(name, 0, context)
    assert all(SPACE.contains(sampler.sample()) for _ in range(50))


def test_state_dict_resumes_the_stream(name, context):
    a = trained(name, 3, context)
    stream(a, 7)
    state = pickle.loads(pickle.dumps(a.state_dict()))
    expected = stream(a, 10)
    b = make(name, 99)
    b.load_state_dict(state)
    b.bind(context)  # the trainer binds after restoring
    assert stream(b, 10) == expected


def test_an_unbound_sampler_pickles(name):
    a = make(name, 4)
    b = pickle.loads(pickle.dumps(a))
    assert stream(a) == stream(b)


def test_unknown_sampler_lists_known_names():
    from nasengine.errors import ConfigError

    with pytest.raises(ConfigError, match="known: .*uniform"):
        SAMPLERS.create("nope", space=SPACE)
