"""What `make demo` costs on a fresh machine, and what it prints: one table row per run.

    python benchmarks/bench_demo.py --label "demo.toml"
    python benchmarks/bench_demo.py --label "12 epochs" --set train.epochs=12

Each run is ``nasengine run --config demo`` in a fresh folder with an empty
``NASENGINE_CACHE`` (no decoded images, no proxy values: a new user's first demo), timed
from outside. The row splits the wall time into training (the epochs' own clocks),
ranking, the proxies the report still had to compute after training (the rest were
prefetched during it), and everything else (start-up, decoding, plots), and gives the
Kendall tau of the supernet, #params, the strongest proxy and the hybrid, and the true
accuracy of the supernet's top-1 pick; below it, the lines the demo itself printed as its
verdict (what the README quotes). Run it on an otherwise idle machine: the table is only
as quiet as the cores.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = ("| run | wall s | training s | ranking s | proxies after training (jobs, s) | other s "
          "| τ supernet | τ #params | τ best proxy | τ hybrid | top-1 pick acc % |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
_PROXIES_DONE = re.compile(r"proxies: done (\d+)/\d+ arch, ([\d.]+) s")
_VERDICT_LINES = ("Kendall tau", "supernet top-1 pick", "The supernet")


def run_demo(overrides: list[str], workdir: Path) -> tuple[float, str]:
    """(wall seconds, combined output) of one demo run with an empty cache in ``workdir``."""
    env = {**os.environ, "NASENGINE_CACHE": str(workdir / "cache")}
    command = [sys.executable, "-m", "nasengine", "run", "--config", "demo", "--out",
               str(workdir / "run"), *[f"--set={s}" for s in overrides]]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"the demo failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return wall, done.stdout + done.stderr


def row(label: str, wall: float, output: str, run: Path) -> str:
    """The table row of one finished demo run."""
    report = json.loads((run / "ranking.json").read_text())
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    training = sum(r["seconds"] for r in epochs)
    match = _PROXIES_DONE.search(output)
    proxy_archs, proxy_s = (int(match[1]), float(match[2])) if match else (0, 0.0)
    rivals = report.get("rivals", {})
    best = max(rivals, key=lambda n: rivals[n]["kendall_tau"]) if rivals else None
    other = wall - training - report["seconds"] - proxy_s
    sup = report["supernet"]
    cells = [label, f"{wall:.0f}", f"{training:.0f}", f"{report['seconds']:.0f}",
             f"{proxy_archs}, {proxy_s:.0f}", f"{other:.0f}", f"{sup['kendall_tau']:+.3f}",
             f"{report['params_proxy']['kendall_tau']:+.3f}",
             f"{rivals[best]['kendall_tau']:+.3f} ({best})" if best else "-",
             f"{report['hybrid']['kendall_tau']:+.3f}" if report.get("hybrid") else "-",
             f"{sup['top1_true_acc']:.2f}"]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="demo.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="a demo config override, e.g. train.epochs=12 (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        wall, output = run_demo(args.overrides, Path(tmp))
        print(HEADER)
        print(row(args.label, wall, output, Path(tmp) / "run"))
        print("\nthe demo printed:\n")
        print("\n".join(line for line in output.splitlines() if line.startswith(_VERDICT_LINES)))


if __name__ == "__main__":
    main()
