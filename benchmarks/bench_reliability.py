"""Reliability figures: kills survived, bad inputs refused cleanly, fuzz cases run.

Three campaigns, each on the real pipeline (CLI, real CIFAR-10 slice):

* **kill and resume**: ``train`` (uniform, PA&DA, GM few-shot; smoke-sized) killed by
  SIGKILL ``--kills`` times per case, alternately the moment a checkpoint write starts
  and at a random time, then resumed; compared with an uninterrupted run (every tensor
  of weights, optimizer, scheduler, sampler, RNG; the history without timings).
* **faults**: bad inputs and damaged files given to the CLI in-process (the issue's
  list and more); each must end in one ``nasengine: error:`` line and exit 2, with no
  file of the run changed.
* **fuzz**: the hypothesis fuzz test (``tests/test_fuzz.py``) at ``--fuzz-examples``
  examples per input kind, random seeds.

Reproduce:
    python benchmarks/bench_reliability.py --kills 6 --fuzz-examples 200
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from nasengine import cli
from nasengine.checkpoint import load_checkpoint, save_checkpoint
from nasengine.faults import (count_tensors, differences, kill_and_resume, run_to_end,
                              train_command)
from nasengine.runfolder import locked

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["supernet.channels=2", "data.train_limit=192", "train.batch_size=64", "train.epochs=3"]
CASES = {"uniform": [], "pada": ["sampler.name=pada"],
         "fewshot-gm": ["fewshot.strategy=gm", "fewshot.warmup_epochs=1", "fewshot.splits=1",
                        "fewshot.options.batches=1"]}
BAD_SETS = ["train.epochs=two", "train.epochs=0", "train.epochs=-1", "train.epochs=2.5",
            "train.batch_size=0", "train.lr=fast", "train.lr=-0.1", "train.lr=nan",
            "train.lr_min=1", "train.momentum=1.5", "train.weight_decay=-1",
            "train.grad_clip=-1", "train.data_parallel=0", "supernet.channels=0",
            "supernet.cells=-1", "supernet.num_classes=1", "supernet.space=nope",
            "supernet.sharing=nope", "data.train_limit=-10", "data.augment=maybe",
            "data.dataset=mnist", "evaluate.n_archs=-3", "evaluate.eval_images=-5",
            "evaluate.archs=some", "evaluate.bn=nope", "evaluate.workers=0",
            "evaluate.bootstrap=-1", "sampler.name=nope", "sampler.options.foo=1",
            "sampler.options.seed=1", "fewshot.strategy=nope", "fewshot.splits=0",
            "fewshot.decisions=[1]", "seed=-1", "threads=0", "device=banana", "train=3",
            "nope=1", "train.nope=1", "a.b"]


def kill_campaign(kills: int, work: Path) -> list[dict]:
    rows = []
    for case, extra in CASES.items():
        overrides = SMALL + extra
        start = time.perf_counter()
        run_to_end(train_command(work / case / "whole", "smoke", overrides, resume=False))
        log = kill_and_resume(work / case / "killed", "smoke", overrides, kills,
                              random.Random(case), max_delay=4.0)
        diff = differences(work / case / "whole", work / case / "killed")
        leftovers = list((work / case / "killed").glob(".*.tmp"))
        rows.append({"case": case, "kills": len(log.kills), "inside_writes": log.inside_writes,
                     "finished_early": log.finished_early, "tensors": count_tensors(
                         work / case / "whole"), "identical": not diff and not leftovers,
                     "seconds": time.perf_counter() - start})
    return rows


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
        except Exception as exc:  # a traceback: what this campaign counts
            return -1, f"{type(exc).__name__}: {exc}"
    return code, err.getvalue()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def fault_campaign(work: Path) -> dict[str, int]:
    """Each fault: (argv, folder whose files must not change). Counts the outcomes."""
    run = work / "run"
    base = ["--config", "smoke", "--no-progress", *[f"--set={s}" for s in SMALL]]
    assert cli.main(["train", *base, "--out", str(run)]) == 0
    fresh = work / "fresh"  # an empty run folder: nothing may appear in it
    fresh.mkdir()
    faults = [(["train", *base, "--out", str(fresh), f"--set={s}"], fresh) for s in BAD_SETS]
    faults += _damaged_runs(work, base) + _bad_options(work, base, run)
    clean = traceback = silent = 0
    for argv, folder in faults:
        before = _snapshot(folder)
        code, err = _cli(argv)
        one_line = code == 2 and err.startswith("nasengine: error:") and err.count("\n") == 1
        unchanged = _snapshot(folder) == before
        clean += one_line and unchanged
        traceback += code == -1
        silent += code == 0
        if not (one_line and unchanged):
            print(f"  not clean ({code}, files unchanged: {unchanged}): {argv[-2:]} {err[:200]}")
    return {"faults": len(faults), "clean": clean, "traceback": traceback, "accepted": silent}


def _damaged_runs(work: Path, base: list[str]) -> list[tuple[list[str], Path]]:
    """Copies of the trained run with one thing wrong: what rank/search/train must refuse."""
    source = load_checkpoint(work / "run" / "checkpoint.pt")
    fingerprint = source.pop("fingerprint")
    source.pop("format")
    out = []

    def variant(name: str, write) -> Path:
        folder = work / name
        folder.mkdir()
        write(folder / "checkpoint.pt")
        return folder

    class Payload:
        def __reduce__(self):
            return (open, (str(work / "pwned"), "w"))

    nan = {**source, "model": {k: torch.full_like(v, math.nan) if v.is_floating_point() else v
                               for k, v in source["model"].items()}}
    folders = [
        variant("malicious", lambda p: torch.save({"format": "nasengine-checkpoint/1",
                                                   "x": Payload()}, p)),
        variant("truncated", lambda p: p.write_bytes(
            (work / "run" / "checkpoint.pt").read_bytes()[:1000])),
        variant("nan", lambda p: save_checkpoint(p, nan, fingerprint)),
        variant("foreign", lambda p: save_checkpoint(p, source, {**fingerprint, "seed": 9})),
    ]
    for folder in folders:
        for command in (["rank"], ["search", "--budget", "2"], ["train", "--resume"]):
            out.append(([command[0], *base, "--out", str(folder), *command[1:]], folder))
    return out


def _bad_options(work: Path, base: list[str], run: Path) -> list[tuple[list[str], Path]]:
    afile = work / "afile"
    afile.write_text("x")
    latin = work / "latin.toml"
    latin.write_bytes(b"seed = 0\n# caf\xe9\n")
    typed = work / "typed.toml"
    typed.write_text('[train]\nepochs = "two"\n')
    search = ["search", *base, "--out", str(run)]
    return [
        (["train", *base, "--out", str(run)], run),  # restart over a finished run
        (["train", *base, "--out", str(run), "--resume", "--overwrite"], run),
        (["train", *base, "--out", str(afile)], work),
        (["train", *base, "--out", str(afile / "sub")], work),
        (["train", "--config", str(latin), "--out", str(run)], run),
        (["train", "--config", str(typed), "--out", str(run)], run),
        (["train", "--config", "no-such-preset", "--out", str(run)], run),
        (["train", *base, "--out", str(run), "--device", "banana"], run),
        (["train", *base, "--out", str(run), "--threads", "-1"], run),
        (["train", *base, "--out", str(run), "--threads", "0"], run),
        (search + ["--option", "population=abc"], run),
        (search + ["--optimizer", "tpe", "--option", "startup=abc"], run),
        (search + ["--option", "popsize=3"], run),
        (search + ["--optimizer", "annealing"], run),
        (search + ["--budget", "0"], run),
        (search + ["--max-params", "-1"], run),
        (["info", "--channels", "0"], work),
        (["info", "--arch", "|conv~0|+|none~0|none~1|"], work),
        (["info", "--space", "nope"], work),
    ]


def locked_fault(work: Path) -> bool:
    """A second trainer on a folder held by a live process is refused with its PID."""
    with locked(work / "run"):
        code, err = _cli(["train", "--config", "smoke", "--out", str(work / "run")])
    return code == 2 and f"in use by process {os.getpid()}" in err


def fuzz_campaign(examples: int) -> tuple[int, bool]:
    env = {**os.environ, "NASENGINE_FUZZ_EXAMPLES": str(examples), "NASENGINE_FUZZ_RANDOM": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", str(ROOT / "tests/test_fuzz.py"),
                           "--hypothesis-show-statistics", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    cases = sum(int(n) for n in re.findall(r"(\d+) passing(?: examples|,)", proc.stdout))
    return cases, proc.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=6, help="kills per training case [6]")
    parser.add_argument("--fuzz-examples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = kill_campaign(args.kills, work / "kills")
        print("| case | kills | inside checkpoint writes | resumed bit-exact | tensors compared "
              "| s |\n|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['case']} | {r['kills']} | {r['inside_writes']} | "
                  f"{'yes' if r['identical'] else 'NO'} | {r['tensors']} | {r['seconds']:.0f} |")
        (work / "faults").mkdir()
        faults = fault_campaign(work / "faults")
        lock_ok = locked_fault(work / "faults")
        print(f"\nfaults injected: {faults['faults'] + 1}; one-line error, exit 2, files "
              f"unchanged: {faults['clean'] + lock_ok}; tracebacks: {faults['traceback']}; "
              f"accepted silently: {faults['accepted']}; code run from a checkpoint: "
              f"{int((work / 'faults' / 'pwned').exists())}")
    cases, ok = fuzz_campaign(args.fuzz_examples)
    print(f"fuzz: {cases} generated inputs, {'all' if ok else 'NOT all'} worked or gave the "
          f"project's error with exit 2")


if __name__ == "__main__":
    main()
