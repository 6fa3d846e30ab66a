"""Is ENAS better than random search with weight sharing on NB201, and does the buffer help?

Three arms per seed, at one preset, all with the same held-out split of the training
set (``data.valid_images``, so every arm trains on the same images) and the same
number of supernet steps:

* ``uniform``: uniform single-path training, then 100 random archs scored by the
  evaluator (random search with weight sharing, Li & Talwalkar);
* ``enas``: the ENAS controller samples the paths and learns after each epoch on
  validation batches; then 100 archs drawn from the trained controller, scored by the
  same evaluator (``nasengine search --optimizer controller``);
* ``enas-buffer``: the same with Adam & Lorraine's memory-buffer objective.

Each arm reports the true NB201 accuracy and regret of the arch it picks, Kendall tau
of its supernet over the preset's 200 archs (``api.rank``), and, for the controllers,
the hidden-state correlations (:func:`nasengine.samplers.hidden.hidden_state_analysis`:
Spearman between L2 distances of the controller's hidden states and the Hamming and
graph-edit distances of the archs, over 100 archs drawn from the controller and over
100 uniform archs). The controller's phase is scaled to the preset (``ENAS`` below:
50 steps x 4 samples per epoch instead of AutoDL's 50 x 20, lr 5e-3 instead of 1e-3;
buffer from epoch 2, reconstruction from epoch 4, capacity 2,000, 20 renewed per epoch).

Reproduce (one seed of each arm is ~25 min of 1 CPU core per arm, more when shared):
    python benchmarks/bench_enas.py --seeds 0 1 2 --threads 1
Smoke (< 2 min):
    python benchmarks/bench_enas.py --smoke
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _queue import cell_dir, run_cells
from _table import (add_study_arguments, apply_smoke_and_out, ranking_row, run_overrides,
                    variant_table, write_results)
from nasengine import api
from nasengine.config import load_config
from nasengine.samplers import SAMPLERS

VALID = ["data.valid_images=5000"]
# AutoDL: 50 Adam steps x 20 samples per epoch, lr 1e-3, 250 epochs. Here: 50 x 4 (a fifth of
# the scoring cost, +~25% per epoch) over 12 epochs, so lr x5 to partly offset 21x fewer epochs.
ENAS = ["sampler.name=enas", "sampler.options.controller_steps=50", "sampler.options.aggregate=4",
        "sampler.options.lr=0.005"]
BUFFER = ["sampler.options.memory_buffer=true", "sampler.options.buffer_start_epoch=2",
          "sampler.options.sup_start_epoch=4", "sampler.options.buffer_capacity=2000",
          "sampler.options.buffer_replace=20"]
VARIANTS: dict[str, tuple[list[str], str]] = {  # name -> (config overrides, search optimizer)
    "uniform": (VALID + ["sampler.name=uniform"], "random"),
    "enas": (VALID + ENAS, "controller"),
    "enas-buffer": (VALID + ENAS + BUFFER, "controller"),
}
SMOKE_ENAS = ["sampler.options.controller_steps=2", "sampler.options.aggregate=3"]
SMOKE_BUFFER = ["sampler.options.buffer_start_epoch=0", "sampler.options.sup_start_epoch=1"]
COLUMNS = {"true acc of pick (%)": "true_acc", "regret (points)": "regret",
           "Kendall tau (200 archs)": "kendall_tau", "#params tau": "params_kendall_tau",
           "distinct evaluations": "evaluations", "final entropy (nats)": "entropy",
           "s / epoch": "epoch_seconds"}
#: hidden-state table: (archs probed, controller) -> row-key prefix
PROBES = {"controller draws, trained": "controller", "uniform archs, trained": "uniform",
          "uniform archs, untrained": "untrained"}
HIDDEN = {"rho(h, Hamming)": "spearman_hamming", "rho(h, GED)": "spearman_graph_edit",
          "hidden spread": "hidden_spread"}


def variant_config(preset: str, variant: str, seed: int, extra: list[str], smoke: bool = False
                   ) -> Any:
    overrides = [f"seed={seed}", *VARIANTS[variant][0], *extra]
    if smoke:  # seconds-long controller phases (the smoke preset's 1,024 images hold 128 out)
        overrides += ["data.valid_images=128"] + (SMOKE_ENAS if variant != "uniform" else []) + (
            SMOKE_BUFFER if variant == "enas-buffer" else [])
    return load_config(preset, overrides)


def run_one(config: Any, out: Path, variant: str, seed: int, args: argparse.Namespace
            ) -> dict[str, Any]:
    """Train (resumably), rank, select, analyse; return one row."""
    from nasengine.train import read_metrics

    pipe = api.train(config, out, resume=True, progress=False)
    metrics = read_metrics(out)
    row: dict[str, Any] = {"epoch_seconds": sorted(r["seconds"] for r in metrics)[len(metrics) // 2]}
    if args.train_only:
        return row
    if not args.no_rank:
        row.update(ranking_row(config, out, pipe))
    report = api.search(config, out, VARIANTS[variant][1], args.budget, seed, progress=False,
                        pipe=pipe)
    row.update({"arch": report["best"]["arch"], "true_acc": report["best"].get("true_acc"),
                "regret": report["best"].get("regret"), "evaluations": report["evaluations"]})
    if config.sampler.name == "enas":
        row["entropy"] = metrics[-1]["sampler"]["entropy"]
        row.update(hidden_row(pipe, out, args.hidden_archs))
    return row


def hidden_row(pipe: api.Pipeline, out: Path, n: int, name: str = "hidden_states"
               ) -> dict[str, Any]:
    """Hidden-state correlations of the pipeline's controller (cached in ``<name>.json``)."""
    from nasengine.checkpoint import atomic_write_json
    from nasengine.plots import enas_hidden_states
    from nasengine.samplers.hidden import hidden_state_analysis
    from search_spaces.nb201.graph import cell_graph

    path = out / f"{name}.json"
    if path.exists():
        results = json.loads(path.read_text())
    else:
        results = {source: hidden_state_analysis(pipe.sampler, n, source=source, graph=cell_graph)
                   for source in ("controller", "uniform")}
        untrained = SAMPLERS.create("enas", space=pipe.space, seed=pipe.config.seed,
                                    **pipe.config.sampler.options)  # the same controller at init
        results["untrained"] = hidden_state_analysis(untrained, n, source="uniform",
                                                     graph=cell_graph)
        atomic_write_json(path, results)
        enas_hidden_states(results, out / f"{name}.png")
    return {f"{source}_{key}": value for source, r in results.items()
            for key, value in r.items() if key.startswith(("spearman", "hidden_spread"))}


def probe(args: argparse.Namespace, extra: list[str]) -> None:
    """The controllers as their last checkpoints left them (runs still training included):
    epochs done, the last controller phase, and the hidden-state correlations."""
    from nasengine.checkpoint import load_checkpoint
    from nasengine.train import CHECKPOINT

    rows = []
    for variant in [v for v in args.variants if v != "uniform"]:
        for seed in args.seeds:
            out = cell_dir(args.out, variant, seed)
            if not (out / CHECKPOINT).exists():
                continue
            pipe = api.build(variant_config(args.preset, variant, seed, extra, args.smoke),
                             progress=False)
            state = load_checkpoint(out / CHECKPOINT, pipe.config.fingerprint())
            pipe.sampler.load_state_dict(state["sampler"])
            log = state["history"][-1]["sampler"]
            rows.append({"variant": f"{variant} @ epoch {state['epoch']}", "seed": seed,
                         **{k: log.get(k) for k in ("reward", "entropy", "top_fraction",
                                                    "sup_loss")},
                         **hidden_row(pipe, out, args.hidden_archs,
                                      f"hidden_states_epoch{state['epoch']}")})
    columns = {"mean reward": "reward", "entropy (nats)": "entropy",
               "top arch share": "top_fraction", "reconstruction NLL": "sup_loss",
               **{f"{k} [{prefix}]": f"{prefix}_{v}"
                  for prefix in PROBES.values() for k, v in HIDDEN.items()}}
    table = variant_table(rows, "Controllers at their last checkpoint", columns,
                          [r["variant"] for r in rows]) + "\n" + epoch_table(args)
    (args.out / "probe.md").write_text(table)
    print(table)


def epoch_table(args: argparse.Namespace) -> str:
    """Per epoch and controller arm (seed by seed): mean reward, entropy, top arch share."""
    from nasengine.train import read_metrics

    logs = {(variant, seed): [r["sampler"] for r in read_metrics(cell_dir(args.out, variant, seed))]
            for variant in args.variants if variant != "uniform" for seed in args.seeds}
    epochs = max(map(len, logs.values()), default=0)
    lines = ["# Controller phase per epoch (mean reward / entropy in nats / share of the most "
             "drawn arch)", "", "| arm | seed | " + " | ".join(f"ep {e + 1}" for e in range(epochs))
             + " |", "| --- " * (epochs + 2) + "|"]
    lines += [f"| {variant} | {seed} | " + " | ".join(
        f"{r['reward']:.3f} / {r['entropy']:.2f} / {r['top_fraction']:.3f}" for r in log) + " |"
        for (variant, seed), log in logs.items() if log]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_study_arguments(parser, list(VARIANTS),
                        "root of the runs (default runs/enas, runs/enas-smoke with --smoke)")
    parser.add_argument("--budget", type=int, default=100, help="archs scored by each arm")
    parser.add_argument("--hidden-archs", type=int, default=100)
    parser.add_argument("--probe", action="store_true",
                        help="train nothing; analyse the controllers' last checkpoints")
    parser.add_argument("--train-only", action="store_true",
                        help="train the cells, record nothing else (finish later without it)")
    args = parser.parse_args()
    apply_smoke_and_out(args, "enas")
    if args.smoke:
        args.budget, args.hidden_archs = 6, 12
    return args


def main() -> None:
    args = parse_args()
    extra = run_overrides(args)
    if args.probe:
        return probe(args, extra)

    def run(variant: str, seed: int, out: Path) -> dict[str, Any]:
        config = variant_config(args.preset, variant, seed, extra, args.smoke)
        return run_one(config, out, variant, seed, args)

    cells = [(variant, seed) for seed in args.seeds for variant in args.variants]
    study = "enas-train" if args.train_only else "enas"
    rows = run_cells(study, cells, args.out, run, args.summary_only)
    title = f"Random search with weight sharing vs ENAS, preset {args.preset}, seeds {args.seeds}"
    write_results(args, rows, variant_table(rows, title, COLUMNS, VARIANTS) + "\n" +
                  hidden_table(rows))


def hidden_table(rows: list[dict[str, Any]]) -> str:
    """Hidden-state correlations per controller arm and probe, mean ± std over seeds."""
    probe_rows = [{"variant": f"{r['variant']}: {probe}",
                   **{key: r.get(f"{prefix}_{key}") for key in HIDDEN.values()}}
                  for r in rows if r["variant"] != "uniform" for probe, prefix in PROBES.items()]
    names = [f"{v}: {probe}" for v in VARIANTS if v != "uniform" for probe in PROBES]
    return variant_table(probe_rows, "Controller hidden states vs arch distances (Spearman)",
                         HIDDEN, names)


if __name__ == "__main__":
    main()
