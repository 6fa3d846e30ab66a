"""Proxies prefetched during training: the report's values, no second writer left behind."""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import random
import time

import numpy as np
import pytest

from nasengine.config import load_config
from nasengine.families import get_family
from nasengine.proxies.prefetch import prefetch_proxies
from nasengine.proxies.setup import proxy_columns, proxy_table

SMOKE = ["supernet.channels=4", "data.train_limit=256", "train.epochs=1", "proxies.channels=4",
         "proxies.cells=1", "proxies.batch_size=8", 'proxies.names=["naswot","synflow"]',
         "proxies.hybrid=[]"]


def arch_names(n: int) -> list[str]:
    space = get_family("nb201").space()
    return [space.format(space.decode(i)) for i in random.Random(3).sample(range(len(space)), n)]


def cache_lines(config) -> list[str]:
    path = proxy_table(config).path
    return path.read_text().splitlines() if path.is_file() else []


def test_prefetched_values_are_the_reports_and_the_process_is_gone(cifar10_path, tmp_path):
    config = load_config("smoke", [*SMOKE, f"proxies.cache='{tmp_path / 'cache'}'"])
    names = arch_names(4)
    with prefetch_proxies(config, names):
        deadline = time.monotonic() + 120
        while len(cache_lines(config)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert multiprocessing.active_children() == []
    rows = [json.loads(line) for line in cache_lines(config)]  # no torn line either
    assert len(rows) >= 2
    space = get_family("nb201").space()
    archs = [space.parse(n) for n in names]
    fresh = load_config("smoke", [*SMOKE, f"proxies.cache='{tmp_path / 'fresh'}'"])
    np.testing.assert_array_equal(proxy_columns(config, archs, progress=False)["naswot"],
                                  proxy_columns(fresh, archs, progress=False)["naswot"])


def test_no_process_without_proxies_or_with_prefetch_off(tmp_path):
    for extra in (["proxies.names=[]"], ["proxies.prefetch=false"]):
        config = load_config("smoke", [*SMOKE, *extra, f"proxies.cache='{tmp_path}'"])
        with prefetch_proxies(config, arch_names(2)):
            assert multiprocessing.active_children() == []


def test_a_failed_prefetch_says_so_and_the_run_goes_on(tmp_path):
    config = load_config("smoke", [*SMOKE, f"data.source='{tmp_path / 'missing'}'",
                                   f"proxies.cache='{tmp_path}'"])
    with pytest.warns(UserWarning, match="proxy prefetch failed"):
        with prefetch_proxies(config, arch_names(2)):
            deadline = time.monotonic() + 60
            while multiprocessing.active_children() and time.monotonic() < deadline:
                time.sleep(0.2)  # the process dies on the missing data by itself


def test_training_prefetches_the_archs_it_will_rank_and_a_finished_run_does_not(
        cifar10_path, tmp_path, monkeypatch):
    import nasengine.proxies.prefetch as prefetch
    from nasengine import api

    calls = []

    @contextlib.contextmanager
    def recording(config, names):
        calls.append(list(names))
        yield

    monkeypatch.setattr(prefetch, "prefetch_proxies", recording)
    config = load_config("smoke", [*SMOKE, "evaluate.n_archs=5", f"proxies.cache='{tmp_path}'"])
    pipe = api.train(config, tmp_path / "run", progress=False)
    assert calls == [[pipe.space.format(a) for a in pipe.arch_sample()]]
    api.train(config, tmp_path / "run", resume=True, progress=False)  # nothing left to train
    assert len(calls) == 1
