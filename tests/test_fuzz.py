"""Fuzzing the inputs a user types: every one either works or is the project's error, exit 2.

In-process (``cli.main``) and with a small example budget, so it stays a few seconds. Runs
that pass validation stop at a missing data source or checkpoint, never train.
"""
from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import fields, is_dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasengine import cli
from nasengine.config import RunConfig, load_config
from nasengine.errors import NasEngineError
from nasengine.families import get_family

FUZZ = settings(max_examples=int(os.environ.get("NASENGINE_FUZZ_EXAMPLES", "40")), deadline=None, derandomize=os.environ.get("NASENGINE_FUZZ_RANDOM") is None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def _keys(obj=RunConfig(), prefix="") -> list[str]:
    out = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        out += _keys(value, f"{prefix}{f.name}.") if is_dataclass(value) else [prefix + f.name]
    return out


KEYS = _keys() + ["sampler.options.importance_weight", "sampler.options.foo", "fewshot.options.batches",
                  "train.nope", "nope"]
SCALARS = st.one_of(st.integers(-3, 10 ** 6), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans(), st.text(max_size=8),
                    st.sampled_from(["cpu", "auto", "all", "random", "gm", "pada", "nb201"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))


def _toml(value) -> str:
    """A TOML literal for ``value`` (what a user could have written)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(value), repr(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _outcome(call) -> int:
    """0 when it worked, 2 for the project's error; anything else fails the test."""
    try:
        call()
    except NasEngineError:
        return 2
    return 0


def _cli(argv: list[str]) -> int:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
    assert code in (0, 2), (argv, err.getvalue())
    if code == 2 and err.getvalue().startswith("nasengine: error"):
        assert err.getvalue().count("\n") == 1, err.getvalue()
    return code


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=3))
def test_set_overrides(pairs):
    overrides = [f"{k}={_toml(v)}" for k, v in pairs]
    _outcome(lambda: load_config("smoke", overrides))


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(KEYS), st.text(max_size=10)), max_size=3))
def test_set_overrides_as_raw_text(pairs):
    _outcome(lambda: load_config("smoke", [f"{k}={v}" for k, v in pairs]))


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4), st.binary(max_size=8))
def test_config_files(tmp_path, table, noise):
    sections: dict[str, list[str]] = {}
    for key, value in table.items():
        head, _, leaf = key.rpartition(".")
        sections.setdefault(head, []).append(f"{leaf} = {_toml(value)}")
    text = "\n".join(sections.pop("", [])) + "".join(
        f"\n[{head}]\n" + "\n".join(lines) for head, lines in sections.items())
    path = tmp_path / "fuzz.toml"
    path.write_bytes(text.encode() + b"\n" + noise)
    _outcome(lambda: load_config(path))


ARCH_TEXT = st.lists(st.sampled_from(NB201_OPS + ["|", "+", "~", "0", "1", "2", "3", "x"]),
                     max_size=20).map("".join)


@FUZZ
@given(st.one_of(ARCH_TEXT, st.text(max_size=30),
                 st.lists(st.tuples(st.sampled_from(NB201_OPS), st.integers(-1, 4)),
                          min_size=6, max_size=6).map(
                     lambda e: "|{}~{}|+|{}~{}|{}~{}|+|{}~{}|{}~{}|{}~{}|".format(
                         *(x for pair in e for x in pair)))))
def test_arch_strings(text):
    space = get_family("nb201").space()
    _outcome(lambda: space.parse(text))
    assert _cli(["info", "--arch", text, "--channels", "4", "--cells", "1"]) in (0, 2)


OPTION_VALUES = st.one_of(st.integers(-5, 10 ** 4), st.text(max_size=6),
                          st.sampled_from(["0", "-1", "1.5", "nan", "banana", "cuda:1", "cpu"]))


@FUZZ
@given(command=st.sampled_from(["train", "rank", "search", "run", "info"]),
       options=st.lists(st.tuples(st.sampled_from(
           ["--threads", "--device", "--seed", "--channels", "--cells", "--classes", "--budget",
            "--option", "--max-params", "--optimizer", "--space", "--out"]), OPTION_VALUES),
           max_size=3))
def test_cli_options(tmp_path, command, options):
    (tmp_path / "afile").write_text("x")
    argv = [command]
    if command != "info":  # anything that passes validation stops at the missing data
        argv += ["--config", "smoke", "--no-progress", "--set",
                 f"data.source={json.dumps(str(tmp_path / 'no-data'))}",
                 "--out", str(tmp_path / "run")]
    for flag, value in options:
        if flag == "--out":
            value = str(tmp_path / ("afile" if isinstance(value, int) else "afile/sub"))
        argv += [flag, str(value)]
    assert _cli(argv) in (0, 2)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()

