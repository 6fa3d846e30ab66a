"""Every method measured at ``cpu-proxy``, side by side: Kendall tau per seed vs #params.

Reads the finished method studies (``bench_pada.py``, ``bench_sharing.py``,
``bench_fewshot.py``; each writes ``<out>/results.json``), prints one markdown table and
draws ``benchmarks/figures/methods_tau.png``. Trains nothing.

Reproduce (after the three studies):
    python benchmarks/summary.py
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from nasengine.plots import seed_plot

#: (study results, variant in that study) -> the name shown; the uniform baseline once
METHODS = {
    ("runs/pada", "uniform"): "uniform (SPOS)",
    ("runs/pada", "PA"): "PA",
    ("runs/pada", "DA"): "DA",
    ("runs/pada", "PA&DA"): "PA&DA",
    ("runs/pada-mean", "PA&DA"): "PA&DA, param-free = mean",
    ("runs/sharing", "entangled"): "entangled",
    ("runs/fewshot", "exhaustive"): "few-shot exhaustive",
    ("runs/fewshot", "gm"): "few-shot GM",
}


def collect() -> tuple[dict[str, list[float]], float | None]:
    """Per method the seeds' Kendall tau, and the #params proxy's tau on the same archs."""
    groups: dict[str, list[float]] = {}
    proxy = None
    for (root, variant), name in METHODS.items():
        path = Path(root) / "results.json"
        if not path.exists():
            continue
        rows = [r for r in json.loads(path.read_text())["rows"] if r["variant"] == variant]
        if rows:
            groups[name] = [r["kendall_tau"] for r in sorted(rows, key=lambda r: r["seed"])]
            proxy = rows[0].get("params_kendall_tau", proxy)
    return groups, proxy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figure", type=Path, default=Path("benchmarks/figures/methods_tau.png"))
    args = parser.parse_args()
    groups, proxy = collect()
    print("| method | seeds | Kendall τ (mean ± std) | per seed |\n|---|---|---|---|")
    for name, taus in groups.items():
        std = statistics.stdev(taus) if len(taus) > 1 else 0.0
        print(f"| {name} | {len(taus)} | {statistics.mean(taus):+.3f} ± {std:.3f} | "
              + " / ".join(f"{t:+.3f}" for t in taus) + " |")
    if proxy is not None:
        print(f"| #params proxy | - | {proxy:+.3f} | |")
    seed_plot(groups, args.figure, ylabel="Kendall τ vs NB201 (200 archs)",
              title="NB201 at cpu-proxy (C8N1, 12 epochs): every seed",
              reference={"#params proxy": proxy} if proxy is not None else None)
    print(f"\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
