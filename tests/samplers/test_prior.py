"""The proxy prior: a base sampler whose steps are shared with the proxies' shortlist."""
import dataclasses

import numpy as np
import pytest
import torch

from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.samplers import SAMPLERS, UniformSampler
from nasengine.train import read_metrics
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()
ENAS = {"controller_steps": 2, "aggregate": 2}


def prior(seed: int = 0, **options):
    return SAMPLERS.create("proxy_prior", {"pool": 24, "shortlist": 0.25, **options},
                           space=SPACE, seed=seed)


def same(a, b) -> bool:
    """Deep equality of sampler states (tensors bit for bit, NaN equal to NaN)."""
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and bool(
            torch.isclose(a, b, rtol=0, atol=0, equal_nan=True).all())
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_the_shortlist_is_the_top_fraction_of_the_pool_by_the_proxies(context):
    seen = []

    def spy(archs):
        seen.append([SPACE.encode(a) for a in archs])
        return context.proxy_scores(archs)

    sampler = prior(pool=40, shortlist=0.1)
    sampler.bind(dataclasses.replace(context, proxy_scores=spy))
    pool = sampler.draw_pool()
    assert seen == [pool] and len(set(pool)) == 40  # the pool alone, scored once
    scores = dict(zip(pool, np.asarray(context.proxy_scores([SPACE.decode(i) for i in pool]))))
    kept = sampler.shortlist
    assert len(kept) == 4 and set(kept) <= set(pool)
    assert min(scores[i] for i in kept) >= max(scores[i] for i in set(pool) - set(kept))
    assert [scores[i] for i in kept] == sorted((scores[i] for i in kept), reverse=True)
    sampler.bind(context)  # a resumed run's bind keeps the shortlist
    assert seen == [pool]


def test_the_top_fraction_is_rounded_up_as_the_hybrid_shortlist_does(context):
    sampler = prior(pool=25, shortlist=0.1)  # 2.5 archs: the hybrid's ceil keeps 3
    sampler.bind(context)
    assert len(sampler.shortlist) == 3


def test_the_pool_has_its_own_seed():
    assert prior(pool_seed=1000).draw_pool() == prior(seed=7, pool_seed=1000).draw_pool()
    assert prior(pool_seed=1000).draw_pool() != prior(pool_seed=0).draw_pool()


@pytest.mark.parametrize("base, options", [("pada", {}), ("enas", ENAS)])
def test_share_zero_is_exactly_the_base_sampler(base, options, drive):
    composed = drive(prior(5, share=0.0, base=base, base_options=options))
    alone = drive(SAMPLERS.create(base, options, space=SPACE, seed=5))
    assert same(composed.base.state_dict(), alone.state_dict())
    assert [composed.sample() for _ in range(30)] == [alone.sample() for _ in range(30)]
    assert composed.epoch_log()["proxy_prior"]["shortlist_fraction"] == 0.0


def test_share_one_trains_only_shortlisted_archs(drive):
    sampler = drive(prior(share=1.0), epochs=1)
    assert sampler.epoch_log()["proxy_prior"] == {
        "epoch": 0, "steps": 4, "shortlist_steps": 4, "shortlist_fraction": 1.0, "shortlist": 6,
        "pool": 24, "pool_seconds": sampler.pool_seconds}
    assert {SPACE.encode(sampler.sample()) for _ in range(200)} <= set(sampler.shortlist)


def test_a_share_of_the_steps_comes_from_the_shortlist(context):
    sampler = prior(share=0.3)
    sampler.bind(context)
    sampler.on_train_start(1)
    sampler.on_epoch_start(0)
    draws = [SPACE.encode(sampler.sample()) for _ in range(2000)]
    sampler.on_epoch_end(0)
    log = sampler.epoch_log()["proxy_prior"]
    assert log["steps"] == 2000 and abs(log["shortlist_fraction"] - 0.3) < 0.035  # 3 sigma
    in_shortlist = sum(d in sampler.shortlist for d in draws)
    assert log["shortlist_steps"] <= in_shortlist < log["shortlist_steps"] + 0.01 * 2000


@pytest.mark.parametrize("option, value, words", [
    ("pool", 1, "pool"), ("shortlist", 0.0, "shortlist"), ("shortlist", 1.5, "shortlist"),
    ("share", -0.1, "share"), ("share", 2, "share"), ("pool_seed", -1, "pool_seed"),
    ("base", "nope", "known: .*pada"), ("base_options", {"bogus": 1}, "no option 'bogus'"),
    ("base_options", 3, "base_options")])
def test_bad_options_are_one_clear_error(option, value, words):
    with pytest.raises(ConfigError, match=words):
        prior(**{option: value})


def test_a_base_that_learns_only_from_its_own_draws_is_refused(monkeypatch):
    class OnPolicy(UniformSampler):
        accepts_foreign_archs = False

    monkeypatch.setitem(SAMPLERS._entries, "on_policy", OnPolicy)
    with pytest.raises(ConfigError, match="learns only from the archs it drew itself"):
        prior(base="on_policy")


def test_without_proxies_or_a_bind_it_says_what_is_missing(context):
    with pytest.raises(ConfigError, match="training-free proxies"):
        prior().bind(dataclasses.replace(context, proxy_scores=None))
    with pytest.raises(ConfigError, match="binds it"):
        prior().on_epoch_start(0)


def test_training_resumes_bit_exactly_with_the_shortlist(cifar10_path, tmp_path, train_twice):
    config = load_config("smoke", [
        "sampler.name=proxy_prior", "sampler.options.pool=8", "train.epochs=3",
        "data.train_limit=256", "supernet.channels=4", "proxies.channels=4", "proxies.cells=1",
        "proxies.batch_size=8", f"proxies.cache={tmp_path / 'px'}"])
    full, resumed = train_twice(config, stop_after=2)  # equal supernets asserted there
    timeless = lambda state: {k: v for k, v in state.items()  # noqa: E731
                              if k not in ("pool_seconds", "log")}
    assert same(timeless(full.sampler.state_dict()), timeless(resumed.sampler.state_dict()))
    logs = [[{**r, "seconds": 0, "images_per_s": 0,
              "sampler": {**r["sampler"], "proxy_prior": {**r["sampler"]["proxy_prior"],
                                                          "pool_seconds": 0}}}
             for r in read_metrics(tmp_path / run)] for run in ("full", "cut")]
    assert logs[0] == logs[1]
    assert [r["sampler"]["proxy_prior"]["steps"] for r in logs[0]] == [4, 4, 4]
    assert "path" in logs[0][-1]["sampler"]  # PA&DA's own log is kept beside


def test_a_run_ranks_its_pool_by_its_proxies_hybrid(cifar10_path, tmp_path):
    from nasengine import api

    config = load_config("smoke", [
        "sampler.name=proxy_prior", "sampler.options.pool=30", "sampler.options.shortlist=0.2",
        "proxies.hybrid=[\"params\"]", "proxies.channels=4", "proxies.cells=1",
        f"proxies.cache={tmp_path}"])
    pipe = api.build(config, progress=False)
    pipe.sampler.bind(pipe.sampler_context())
    params = {i: pipe.family.complexity(SPACE.decode(i), channels=4, cells=1)["params"]
              for i in pipe.sampler.draw_pool()}
    kept = pipe.sampler.shortlist
    assert len(kept) == 6
    assert min(params[i] for i in kept) >= max(params[i] for i in set(params) - set(kept))
