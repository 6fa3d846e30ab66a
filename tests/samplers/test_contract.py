"""Contract every registered sampler must honour (add a sampler: it is tested here).

Each sampler is first driven through two short epochs of real learning on a tiny NB201
supernet (bound context, gradients, validation batches), so the contract is checked on
what it learned, not only on its uniform start: the default PA&DA, for one, draws from
its importance distribution by then.
"""
import pickle

import pytest

from nasengine.samplers import SAMPLERS
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()
FAST = {"enas": {"controller_steps": 2, "aggregate": 2},  # smaller, same code paths
        "shiftnas": {"bin_sample": 64, "archs_per_region": 2, "generator_steps": 2,
                     "chunks": 2},
        "proxy_prior": {"pool": 24, "shortlist": 0.25}}


def make(name: str, seed: int):
    return SAMPLERS.create(name, FAST.get(name, {}), space=SPACE, seed=seed)


def trained(name: str, seed: int, drive):
    """The sampler after two epochs as the trainer drives it, at the start of the third."""
    return drive(make(name, seed))


@pytest.fixture(params=SAMPLERS.names())
def name(request) -> str:
    return request.param


def stream(sampler, n=20):
    return [SPACE.encode(sampler.sample()) for _ in range(n)]


def test_same_seed_same_stream(name, drive):
    assert stream(trained(name, 1, drive)) == stream(trained(name, 1, drive))


def test_different_seed_different_stream(name, drive):
    assert stream(trained(name, 1, drive)) != stream(trained(name, 2, drive))


def test_every_sampler_but_uniform_has_left_the_uniform_stream(name, drive):
    """Driven alike, only ``uniform`` still draws what uniform sampling draws."""
    learned = stream(trained(name, 1, drive), 50)
    assert (learned == stream(trained("uniform", 1, drive), 50)) == (name == "uniform")


def test_samples_are_inside_the_space(name, drive):
    sampler = trained(name, 0, drive)
    assert all(SPACE.contains(sampler.sample()) for _ in range(50))


def test_state_dict_resumes_the_stream(name, context, drive):
    a = trained(name, 3, drive)
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
