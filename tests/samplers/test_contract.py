"""Contract every registered sampler must honour (add a sampler: it is tested here)."""
import pickle

import pytest

from nasengine.samplers import SAMPLERS
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()


def make(name: str, seed: int):
    return SAMPLERS.create(name, space=SPACE, seed=seed)


@pytest.fixture(params=SAMPLERS.names())
def name(request) -> str:
    return request.param


def stream(sampler, n=20, start=0):
    return [SPACE.encode(sampler.sample(step)) for step in range(start, start + n)]


def test_same_seed_same_stream(name):
    assert stream(make(name, 1)) == stream(make(name, 1))


def test_different_seed_different_stream(name):
    assert stream(make(name, 1)) != stream(make(name, 2))


def test_samples_are_inside_the_space(name):
    sampler = make(name, 0)
    assert all(SPACE.contains(sampler.sample(i)) for i in range(50))


def test_state_dict_resumes_the_stream(name):
    a = make(name, 3)
    stream(a, 7)
    state = pickle.loads(pickle.dumps(a.state_dict()))
    expected = stream(a, 10, start=7)
    b = make(name, 99)
    b.load_state_dict(state)
    assert stream(b, 10, start=7) == expected


def test_reseed_changes_sampling(name):
    a, b = make(name, 5), make(name, 5)
    b.reseed(6)
    assert stream(a) != stream(b)


def test_pickles(name):
    a = make(name, 4)
    b = pickle.loads(pickle.dumps(a))
    assert stream(a) == stream(b)


def test_unknown_sampler_lists_known_names():
    from nasengine.errors import ConfigError

    with pytest.raises(ConfigError, match="known: .*uniform"):
        SAMPLERS.create("nope", space=SPACE)
