"""Proxy tables: cached, resumable after a kill, equivalent archs scored once."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from nasengine.proxies import PROXIES, ArchProxy
from nasengine.proxies.table import ProbeSetup, ProxyTable
from nasengine.families import get_family

NET = {"channels": 4, "cells": 1}


class Counting(ArchProxy):
    """#params, counting its calls and dying (like a kill) after ``die_after`` of them."""

    name = "counting"
    function_only = False
    calls = 0
    die_after: int | None = None
    offset = 0.0  # a changed computation (with a new version) gives other values

    def score(self, probe) -> float:
        if Counting.die_after is not None and Counting.calls >= Counting.die_after:
            raise KeyboardInterrupt
        Counting.calls += 1
        return float(sum(p.numel() for p in probe.net.parameters())) + self.offset


@pytest.fixture
def counting(monkeypatch):
    monkeypatch.setitem(PROXIES._entries, "counting", Counting)
    Counting.calls, Counting.die_after = 0, None
    return Counting


def table(tmp_path, batch) -> ProxyTable:
    return ProxyTable(get_family("nb201"), ProbeSetup("nb201", batch_size=8, net=NET), batch,
                      cache=tmp_path)


def archs(n: int):
    space = get_family("nb201").space()
    return [space.decode(i) for i in random.Random(0).sample(range(len(space)), n)]


def test_a_killed_table_resumes_without_recomputing(tmp_path, batch, counting):
    sample = archs(10)
    counting.die_after = 6
    with pytest.raises(KeyboardInterrupt):
        table(tmp_path, batch).columns(sample, ["counting"], progress=False)
    finished = counting.calls
    assert 0 < finished < 10
    counting.die_after = None
    resumed = table(tmp_path, batch)
    values = resumed.columns(sample, ["counting"], progress=False)["counting"]
    assert resumed.computed == 10 - finished and counting.calls == 10
    fresh = ProxyTable(get_family("nb201"), ProbeSetup("nb201", batch_size=8, net=NET), batch,
                       cache=tmp_path / "other").columns(sample, ["counting"], progress=False)
    np.testing.assert_array_equal(values, fresh["counting"])


def test_a_finished_table_is_read_not_recomputed(tmp_path, batch, counting):
    sample = archs(4)
    first = table(tmp_path, batch).columns(sample, ["counting", "synflow"], progress=False)
    again = table(tmp_path, batch)
    second = again.columns(sample, ["counting", "synflow"], progress=False)
    assert again.computed == 0 and counting.calls == 4
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


def test_another_seed_is_another_cache_entry(tmp_path, batch):
    one = ProbeSetup("nb201", batch_size=8, seed=0, net=NET)
    two = ProbeSetup("nb201", batch_size=8, seed=1, net=NET)
    assert one.key() != two.key()
    a = ProxyTable(get_family("nb201"), one, batch, cache=tmp_path)
    b = ProxyTable(get_family("nb201"), two, batch, cache=tmp_path)
    sample = archs(3)
    assert not np.array_equal(a.columns(sample, ["snip"], progress=False)["snip"],
                              b.columns(sample, ["snip"], progress=False)["snip"])


def test_the_device_names_its_own_cache_file_and_cpu_keeps_the_old_name():
    cpu = ProbeSetup("nb201", batch_size=64, seed=0, net=NET)
    assert cpu.key() == "v1-nb201-" + "-".join(f"{k}{v}" for k, v in sorted(NET.items())) \
        + "-cifar10-b64-s0"
    assert ProbeSetup("nb201", batch_size=64, seed=0, net=NET, device="cuda").key() \
        == cpu.key() + "-cuda"


def test_equivalent_archs_share_function_only_proxies(tmp_path, batch, counting):
    space = get_family("nb201").space()
    same = [space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|"
                        "none~2|"),
            space.parse("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|"
                        "nor_conv_1x1~1|none~2|")]
    t = table(tmp_path, batch)
    cols = t.columns(same, ["snip", "counting"], progress=False)
    assert cols["snip"][0] == cols["snip"][1]
    assert counting.calls == 2 and cols["counting"][0] < cols["counting"][1]
    assert sum("snip" in row for row in t.rows.values()) == 1


def test_forked_workers_give_the_serial_values(tmp_path, batch):
    sample = archs(9)
    serial = table(tmp_path / "a", batch).columns(sample, ["naswot", "grad_norm"],
                                                  progress=False)
    forked = table(tmp_path / "b", batch).columns(sample, ["naswot", "grad_norm"],
                                                  progress=False, workers=2)
    for name in serial:
        np.testing.assert_array_equal(serial[name], forked[name])


def test_a_new_proxy_version_is_computed_again_and_the_others_stay_cached(tmp_path, batch,
                                                                           counting, monkeypatch):
    sample = archs(3)
    first = table(tmp_path, batch).columns(sample, ["counting", "snip"], progress=False)
    monkeypatch.setattr(Counting, "version", 2)
    monkeypatch.setattr(Counting, "offset", 1.0)
    again = table(tmp_path, batch)
    second = again.columns(sample, ["counting", "snip"], progress=False)
    assert counting.calls == 6 and again.computed == 3
    np.testing.assert_array_equal(second["counting"], first["counting"] + 1.0)  # never v1's
    np.testing.assert_array_equal(second["snip"], first["snip"])
    new_rows = [json.loads(line) for line in again.path.read_text().splitlines()][-3:]
    assert all(set(row["scores"]) == {"counting@v2"} for row in new_rows)  # snip was read
