"""How does ranking fidelity (Kendall tau vs NB201) depend on the training/evaluation protocol?

Trains one uniform single-path supernet per (protocol, seed) on real CIFAR-10, then
ranks the same seeded sample of NB201 archs under several evaluation protocols
(BN batch statistics vs recalibration, number of held-out images), always beside
the #params proxy. Resumable: finished cells are skipped, a half-trained supernet
continues from its checkpoint.

Reproduce (the table in benchmarks/RESULTS.md; two 1-thread workers share the queue):
    for w in 1 2; do OMP_WAIT_POLICY=PASSIVE python benchmarks/budget_study.py \
        --threads 1 --seeds 0 1 2 & done; wait
    python benchmarks/budget_study.py --summary-only
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from _queue import claim, release
from nasengine import api
from nasengine.config import load_config
from nasengine.plots import line_plot
from nasengine.train import read_metrics

# train protocols: name -> config overrides (on top of the cpu-proxy preset, the uniform whole-batch protocol these rows were measured with)
GRIDS: dict[str, dict[str, list[str]]] = {
    "main": {
        "C8N1-e6": ["supernet.channels=8", "supernet.cells=1", "train.epochs=6"],
        "C8N1-e12": ["supernet.channels=8", "supernet.cells=1", "train.epochs=12"],
        "C8N1-e24": ["supernet.channels=8", "supernet.cells=1", "train.epochs=24"],
        "C16N1-e10": ["supernet.channels=16", "supernet.cells=1", "train.epochs=10"],
        "C16N1-e20": ["supernet.channels=16", "supernet.cells=1", "train.epochs=20"],
        "C8N2-e12": ["supernet.channels=8", "supernet.cells=2", "train.epochs=12"],
        "C8N1-e12-bs256-lr0.1": ["supernet.channels=8", "supernet.cells=1", "train.epochs=12",
                                 "train.batch_size=256", "train.lr=0.1"],
    },
    "quick": {"C4N1-e1": ["supernet.channels=4", "supernet.cells=1", "train.epochs=1",
                          "data.train_limit=4096"]},
}
# evaluation protocols: name -> overrides (all rank the same archs)
EVALS: dict[str, list[str]] = {
    "batch-500": ["evaluate.bn=batch", "evaluate.eval_images=500"],
    "batch-2k": ["evaluate.bn=batch", "evaluate.eval_images=2000"],
    "recal10-2k": ["evaluate.bn=recalibrate", "evaluate.recal_batches=10",
                   "evaluate.eval_images=2000"],
    "batch-10k": ["evaluate.bn=batch", "evaluate.eval_images=10000"],
    # the cheap protocols a full-space ranking can afford (benchmarks/bench_rank.py)
    "recal1-256": ["evaluate.bn=recalibrate", "evaluate.recal_batches=1",
                   "evaluate.eval_images=256", "evaluate.batch_size=256"],
    "recal2-256": ["evaluate.bn=recalibrate", "evaluate.recal_batches=2",
                   "evaluate.eval_images=256", "evaluate.batch_size=256"],
}
CURVE = ("C8N1-e6", "C8N1-e12", "C8N1-e24", "C16N1-e20")  # the plotted budget curve
DEFAULT_EVALS = ["batch-2k", "recal10-2k", "batch-500"]


def run_cell(root: Path, train_name: str, overrides: list[str], seed: int,
             evals: dict[str, list[str]], n_archs: int, threads: int | None) -> None:
    base = ["evaluate.bootstrap=200", f"evaluate.n_archs={n_archs}", f"seed={seed}"]
    base += [f"threads={threads}"] if threads else []
    out = root / train_name / f"seed{seed}"
    if all((out / e / "ranking.json").exists() for e in evals) or not claim(out):
        return
    start = time.perf_counter()
    pipe = api.train(load_config("cpu-proxy", overrides + base), out, resume=True, progress=False)
    for eval_name, eval_overrides in evals.items():
        eval_out = out / eval_name
        if not (eval_out / "ranking.json").exists():
            config = load_config("cpu-proxy", overrides + base + eval_overrides)
            pipe.config = config
            api.rank(config, out, progress=False, pipe=pipe, report_dir=eval_out)
    release(out)
    print(f"{train_name} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


def collect(root: Path) -> list[dict]:
    """Every finished (train protocol, seed, eval protocol) cell found under ``root``."""
    rows = []
    for path in sorted(root.glob("*/seed*/*/ranking.json")):
        rep = json.loads(path.read_text())
        cell = path.parent.parent
        epochs = read_metrics(cell)  # median x count: robust to a worker paused mid-epoch
        train_s = statistics.median(r["seconds"] for r in epochs) * len(epochs)
        rows.append({"train": cell.parent.name, "eval": path.parent.name,
                     "seed": int(cell.name[4:]), "train_minutes": train_s / 60,
                     "rank_seconds": rep["seconds"],
                     **{f"{who}_{k}": rep[who][k] for who in ("supernet", "params_proxy")
                        for k in ("kendall_tau", "spearman_rho", "precision_at_5")}})
    return rows


def summarise(rows: list[dict]) -> str:
    def ms(values: list[float]) -> str:
        if len(values) == 1:
            return f"{values[0]:+.3f}"
        return f"{statistics.mean(values):+.3f} ± {statistics.stdev(values):.3f}"

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["train"], r["eval"]), []).append(r)
    lines = ["| train protocol | eval protocol | seeds | train min | supernet τ | supernet ρ | "
             "supernet P@5% | #params τ | rank s |", "|---|---|---|---|---|---|---|---|---|"]
    order = sorted(groups, key=lambda k: (statistics.mean(r["train_minutes"] for r in groups[k]), k))
    for (t, e) in order:
        rs = groups[(t, e)]
        col = lambda k: [r[k] for r in rs]  # noqa: E731
        lines.append(f"| {t} | {e} | {len(rs)} | {statistics.mean(col('train_minutes')):.1f} | "
                     f"{ms(col('supernet_kendall_tau'))} | {ms(col('supernet_spearman_rho'))} | "
                     f"{ms(col('supernet_precision_at_5'))} | "
                     f"{ms(col('params_proxy_kendall_tau'))} | "
                     f"{statistics.mean(col('rank_seconds')):.0f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Kendall tau vs training minutes, one line per evaluation protocol.

    Only the budget curve (epochs and width at batch 128) is drawn; the other protocols
    (depth, batch/lr) are in the table."""
    rows = [r for r in rows if r["train"] in CURVE]
    series, labels = {}, {}
    for e in sorted({r["eval"] for r in rows}):
        pts: dict[str, list[dict]] = {}
        for r in rows:
            if r["eval"] == e:
                pts.setdefault(r["train"], []).append(r)
        xs = sorted(pts, key=lambda t: statistics.mean(r["train_minutes"] for r in pts[t]))
        x = [statistics.mean(r["train_minutes"] for r in pts[t]) for t in xs]
        taus = [[r["supernet_kendall_tau"] for r in pts[t]] for t in xs]
        series[e] = (x, [statistics.mean(v) for v in taus],
                     [statistics.stdev(v) if len(v) > 1 else 0.0 for v in taus])
        labels[e] = xs
    proxy = statistics.mean(r["params_proxy_kendall_tau"] for r in rows)
    line_plot(None, series, path, xlabel="supernet training (CPU minutes, 1 thread)",
              ylabel="Kendall tau vs NB201 (200 archs)", reference={"#params proxy": proxy},
              point_labels={next(iter(series)): labels[next(iter(series))]},
              title="NB201 ranking fidelity vs budget (uniform sampling)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="main", choices=sorted(GRIDS))
    parser.add_argument("--only", nargs="*", default=None,
                        help="train protocols to run, in this order (default: the whole grid)")
    parser.add_argument("--evals", nargs="*", default=DEFAULT_EVALS, choices=sorted(EVALS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-archs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per worker (1 when running several workers)")
    parser.add_argument("--summary-only", action="store_true",
                        help="only collect finished cells into the table and plot")
    parser.add_argument("--out", default="runs/budget_study")
    args = parser.parse_args()
    root = Path(args.out)
    evals = {k: EVALS[k] for k in args.evals}
    names = args.only if args.only is not None else list(GRIDS[args.grid])
    if not args.summary_only:
        for seed in args.seeds:
            for name in names:
                run_cell(root, name, GRIDS[args.grid][name], seed, evals, args.n_archs,
                         args.threads)
    rows = collect(root)
    (root / "rows.json").write_text(json.dumps(rows, indent=1))
    table = summarise(rows)
    print(table)
    (root / "table.md").write_text(table + "\n")
    if rows:
        plot(rows, root / "tau_vs_budget.png")


if __name__ == "__main__":
    main()
