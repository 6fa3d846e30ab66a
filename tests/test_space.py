import random

import pytest

from nasengine.errors import SpaceError
from nasengine.space import Categorical, SearchSpace


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace([Categorical("kernel", (3, 5, 7)), Categorical("width", (16, 32)),
                        Categorical("act", ("relu", "swish"))])


def test_size_and_enumeration_cover_every_arch_once(space):
    archs = list(space.enumerate())
    assert len(space) == len(archs) == 12
    assert len({space.encode(a) for a in archs}) == 12
    assert [space.encode(a) for a in archs] == list(range(12))


def test_encode_decode_format_parse_round_trip(space):
    for arch in space.enumerate():
        assert space.decode(space.encode(arch)) == arch
        assert space.parse(space.format(arch)) == arch
        assert space.from_vector(space.to_vector(arch)) == arch


def test_sampling_is_seeded_and_inside_the_space(space):
    a = [space.sample(random.Random(3)) for _ in range(5)]
    b = [space.sample(random.Random(3)) for _ in range(5)]
    assert a == b and all(space.contains(x) for x in a)
    draws = {space.encode(space.sample(random.Random(s))) for s in range(200)}
    assert len(draws) == 12


def test_check_returns_error_and_validate_raises(space):
    bad = {"kernel": 9, "width": 16, "act": "relu"}
    err = space.check(bad)
    assert isinstance(err, SpaceError) and "choose one of [3, 5, 7]" in str(err)
    with pytest.raises(SpaceError, match="missing decisions \\['act'\\]"):
        space.validate({"kernel": 3, "width": 16})
    with pytest.raises(SpaceError, match="outside"):
        space.decode(12)
    with pytest.raises(SpaceError, match="not a choice"):
        space.parse("kernel=4,width=16,act=relu")


def test_bad_space_definitions_are_rejected():
    with pytest.raises(SpaceError, match="no choices"):
        Categorical("k", ())
    with pytest.raises(SpaceError, match="at least one decision"):
        SearchSpace([])
    with pytest.raises(SpaceError, match="unique"):
        SearchSpace([Categorical("a", (1,)), Categorical("a", (2,))])


def test_restrict_limits_one_decision(space):
    sub = space.restrict("kernel", [3, 7])
    assert len(sub) == 8 and not sub.contains({"kernel": 5, "width": 16, "act": "relu"})
    assert len(space) == 12  # original untouched


def test_nni_round_trip(space):
    nni_space = space.to_nni()
    back = SearchSpace.from_nni(nni_space)
    assert {k: d.values for k, d in back.decisions.items()} == \
        {k: d.values for k, d in space.decisions.items()}
    # an nni sample is a valid sample of our space
    import numpy as np

    assert space.contains(nni_space.random(random_state=np.random.RandomState(0)))


def test_from_nni_rejects_non_categorical():
    import nni.mutable as nm

    with pytest.raises(SpaceError, match="only Categorical"):
        SearchSpace.from_nni(nm.MutableDict({"lr": nm.Numerical(0, 1, label="lr")}))
