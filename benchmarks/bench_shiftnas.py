"""ShiftNAS vs uniform sampling: ranking inside complexity terciles, and budget queries.

For each (variant, seed) at one preset (every variant holds out ``--valid-images`` (5000)
training images, which ShiftNAS scores archs on, so all train on the same images):

* Kendall tau over the ranking's archs, and within each NB201 params tercile (terciles of
  all 15,625 archs), beside the #params proxy's;
* the fraction of training steps per ShiftNAS complexity region (terciles of params at the
  run's width). For uniform the arch stream is replayed from its seed and binned the same way;
* for budgets at the 25th/50th/75th percentile of NB201 params: the true accuracy of the arch
  a constrained evolution search (``--trials``) picks with the supernet, and (ShiftNAS) of the
  generator's arch (``nasengine generate``); regret = best true accuracy within the budget
  minus it. The oracle columns need no supernet: the best arch within the budget, a random one
  (the mean over the budget's archs) and the largest (the #params answer: the mean over the
  archs of the largest params count within the budget, which #params cannot tell apart).

``--macro`` also trains a small ShiftNAS supernet on the macro space and reports how far the
generator's archs land from the requested params (calibration error).

Resumable: a finished run is not retrained; rankings, searches and generations are reused.

Reproduce (one seed; each run is one cpu-proxy training, ~8 min on 2 free cores):
    python benchmarks/bench_shiftnas.py --seeds 0 --macro
Smoke (< 2 min, no meaning beyond "it runs"):
    python benchmarks/bench_shiftnas.py --smoke --macro
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from _queue import cell_dir, run_cells
from _table import (add_study_arguments, apply_smoke_and_out, ranking_row, run_overrides,
                    write_results)
from nasengine import api
from nasengine.benchmark import NB201Table
from nasengine.checkpoint import atomic_write_json
from nasengine.config import load_config
from nasengine.metrics import kendall_tau
from nasengine.samplers import ShiftNASSampler, UniformSampler
from nasengine.train import read_metrics

VARIANTS: dict[str, list[str]] = {"uniform": ["sampler.name=uniform"],
                                  "shiftnas": ["sampler.name=shiftnas"],
                                  "PA&DA": ["sampler.name=pada"]}
PERCENTILES = (25, 50, 75)
MACRO = ["supernet.space=macro", "supernet.sharing=entangled", "supernet.channels=4",
         "data.train_limit=1536", "data.valid_images=256", "train.epochs=3",
         "sampler.name=shiftnas"]


def variant_config(args: argparse.Namespace, variant: str, seed: int) -> Any:
    base = [f"data.valid_images={64 if args.smoke else args.valid_images}"]
    config = load_config(args.preset, [f"seed={seed}", *base, *run_overrides(args),
                                       *VARIANTS[variant]])
    if config.sampler.name == "pada":
        config.sampler.options.setdefault("epochs", config.train.epochs)
    return config


# -- oracle facts: terciles and budgets over the whole NB201 table --------------------------------
def oracle(table: NB201Table) -> dict[str, Any]:
    archs = table.archs
    params = np.array([table.params(a) for a in archs])
    acc = np.array([table.accuracy(a) for a in archs])
    budgets = []
    for q in PERCENTILES:
        budget = float(np.percentile(params, q))
        inside = params <= budget + 1e-12
        largest = params[inside].max()
        budgets.append({"percentile": q, "params_M": budget, "best": float(acc[inside].max()),
                        "random": float(acc[inside].mean()),
                        "largest": float(acc[inside & (params == largest)].mean()),
                        "n_archs": int(inside.sum())})
    return {"terciles": [float(np.percentile(params, 100 / 3)),
                         float(np.percentile(params, 200 / 3))], "budgets": budgets}


def tercile_bounds(terciles: list[float]) -> list[tuple[float, float]]:
    """(low, high] of each params tercile from the two cut points."""
    return list(zip([-math.inf, *terciles], [*terciles, math.inf]))


def tercile_taus(out: Path, terciles: list[float]) -> dict[str, Any]:
    """Kendall tau of the supernet and of #params inside each params tercile."""
    rows = [line.split(",") for line in (out / "scores.csv").read_text().splitlines()[1:]]
    data = [(float(s), float(t), float(p)) for _, s, t, p in rows]
    result = {}
    for i, (lo, hi) in enumerate(tercile_bounds(terciles)):
        part = [d for d in data if lo < d[2] <= hi]
        result[f"tau_t{i}"] = kendall_tau([d[0] for d in part], [d[1] for d in part])
        result[f"params_tau_t{i}"] = kendall_tau([d[2] for d in part], [d[1] for d in part])
        result[f"n_t{i}"] = len(part)
    return result


def tercile_rivals(args: argparse.Namespace, out: Path, terciles: list[float]) -> dict[str, Any]:
    """Every training-free proxy's Kendall tau inside each params tercile, on the archs the
    cell at ``out`` ranked (all cells rank the same sample), from the proxy cache."""
    from nasengine.families import get_family
    from nasengine.proxies import PROXIES
    from nasengine.proxies.setup import proxy_columns

    rows = [line.split(",") for line in (out / "scores.csv").read_text().splitlines()[1:]]
    config = load_config(args.preset, run_overrides(args))
    config.proxies.names = [n for n in PROXIES.names() if n not in ("params", "flops")]
    space = get_family(config.supernet.space).space()
    columns = proxy_columns(config, [space.parse(r[0]) for r in rows])
    truth, params = np.array([float(r[2]) for r in rows]), np.array([float(r[3]) for r in rows])
    result = {}
    for i, (lo, hi) in enumerate(tercile_bounds(terciles)):
        inside = (params > lo) & (params <= hi)
        result[f"t{i}"] = {name: kendall_tau(list(values[inside]), list(truth[inside]))
                           for name, values in columns.items()}
    return result


def timing(out: Path) -> dict[str, float]:
    """Median seconds per epoch: training steps, and the sampler's learning phase after it."""
    history = read_metrics(out)
    learning = [r["sampler"]["learning_seconds"] for r in history
                if "learning_seconds" in r.get("sampler", {})]  # logged since it was added
    return {"epoch_seconds": statistics.median(r["seconds"] for r in history),
            "learning_seconds": statistics.median(learning) if learning else None}


def run_width_probe(pipe: api.Pipeline) -> ShiftNASSampler:
    """A ShiftNAS sampler bound to the run: its regions, and its exact linear model of the
    stand-alone params at the run's width (NB201 is additive)."""
    probe = ShiftNASSampler(pipe.space, seed=pipe.config.seed)
    probe.bind(pipe.sampler_context())
    return probe


def region_steps(pipe: api.Pipeline, out: Path) -> dict[str, Any]:
    """Fraction of steps per ShiftNAS region (uniform: its stream replayed and binned; a
    learning sampler other than ShiftNAS logs no regions, and its stream cannot be replayed)."""
    probe = run_width_probe(pipe)
    history = read_metrics(out)
    regions = {"region_prior": probe.regions.prior, "region_edges": probe.regions.edges}
    if pipe.config.sampler.name == "shiftnas":
        steps = np.sum([r["sampler"]["steps"] for r in history], axis=0).tolist()
    elif pipe.config.sampler.name != "uniform":
        return {**regions, "steps_fraction": None}
    else:
        replay = UniformSampler(pipe.space, seed=pipe.config.seed)
        steps = [0] * len(probe.regions)
        for _ in range(history[-1]["step"]):
            steps[probe.region_of(replay.sample())] += 1
    total = sum(steps)
    return {**regions, "steps_fraction": [s / total for s in steps]}


def run_width_limits(pipe: api.Pipeline, budgets: list[dict[str, Any]]) -> list[float]:
    """Each NB201 budget (params of the C16N5 network) as a params limit at the run's width.

    ``generate`` and ``search`` limit the run's own stand-alone network. NB201's params
    depend only on how many 3x3 and 1x1 convolutions a cell has, ordered the same at every
    width, so the largest run-width params among the budget's archs admits exactly the
    budget's archs; that is checked over all 15,625 rather than assumed.
    """
    table, probe = NB201Table.from_path(), run_width_probe(pipe)
    nb201 = np.array([table.params(a) for a in table.archs])
    run = np.array([probe.complexity(pipe.space.parse(a)) for a in table.archs])
    limits = []
    for budget in budgets:
        inside = nb201 <= budget["params_M"] + 1e-12
        limit = float(run[inside].max())
        if not np.array_equal(run <= limit, inside):
            raise RuntimeError(f"the p{budget['percentile']} budget admits other archs at the "
                               "run's width than at NB201's; a run-width limit cannot state it")
        limits.append(limit)
    return limits


def budget_queries(config: Any, out: Path, pipe: api.Pipeline, budgets: list[dict[str, Any]],
                   trials: int) -> dict[str, Any]:
    """True accuracy of (ShiftNAS) the generator's and the constrained search's picks.

    Each answer is cached in ``out/budget_<kind>_<limit>.json`` (the run-width params
    limit in the name): generation first (seconds), then the searches (minutes each);
    ``--trials 0`` skips the searches.
    """
    result: dict[str, Any] = {}
    limits = [{"params": limit} for limit in run_width_limits(pipe, budgets)]
    for i, limit in enumerate(limits):
        result[f"limit_b{i}"] = limit["params"]
        if config.sampler.name == "shiftnas":
            generated = _cached(out / f"budget_generator_{limit['params']:.0f}.json",
                                lambda: api.generate(config, out, limit, progress=False,
                                                     pipe=pipe)["generated"])
            result[f"generator_b{i}"] = generated["true_acc"]
            result[f"generator_arch_b{i}"] = generated["arch"]
    for i, limit in enumerate(limits if trials else []):
        name = f"budget-{limit['params']:.0f}"
        found = _cached(out / f"budget_search{trials}_{name[7:]}.json", lambda: api.search(
            config, out, "evolution", trials, seed=100 * i + config.seed, progress=False,
            pipe=pipe, limits=limit, study=name)["best"])
        result[f"search_b{i}"] = found["true_acc"]
    return result


def _cached(path: Path, compute: Any) -> dict[str, Any]:
    if not path.exists():
        atomic_write_json(path, compute())
    return json.loads(path.read_text())


def run_one(args: argparse.Namespace, facts: dict[str, Any], variant: str, seed: int,
            out: Path) -> dict[str, Any]:
    config = variant_config(args, variant, seed)
    pipe = api.train(config, out, resume=True, progress=False)
    row = {**ranking_row(config, out, pipe), **timing(out)}
    row.update(tercile_taus(out, facts["terciles"]))
    row.update(region_steps(pipe, out))
    row.update(budget_queries(config, out, pipe, facts["budgets"], args.trials))
    return row


# -- macro: generator calibration ------------------------------------------------------------
def macro_calibration(args: argparse.Namespace) -> dict[str, Any]:
    """|c(arch)/target - 1| of generated archs over targets spanning the sampled range."""
    out = args.out / "macro"
    overrides = MACRO + (["data.train_limit=768", "train.epochs=1"] if args.smoke else [])
    config = load_config("smoke", run_overrides(args) + overrides)  # the macro sizes win
    pipe = api.train(config, out, resume=True, progress=False)
    sampler = pipe.sampler
    lo, hi = math.log(sampler.regions.low), math.log(sampler.regions.high)
    result = {}
    for name, band in (("masked", None), ("unmasked", (0.0, math.inf))):
        errors = []
        for i in range(9):
            target = math.exp(lo + (hi - lo) * (i + 0.5) / 9)
            for j in range(4):
                arch = sampler.generate(target, noise=j > 0, band=band)
                errors.append(abs(sampler.complexity(arch) / target - 1))
        result[name] = {"mean_error": statistics.mean(errors),
                        "median_error": statistics.median(errors),
                        "within_10pct": sum(e <= 0.1 for e in errors) / len(errors)}
    result["params_range"] = [sampler.regions.low, sampler.regions.high]
    result["model_exact"] = sampler.model.exact
    return result


# -- tables -------------------------------------------------------------------------------------
def rivals_markdown(rows: list[dict[str, Any]], rivals: dict[str, Any], variants: list[str]
                    ) -> list[str]:
    """Per tercile: the supernets' tau beside #params, the ensemble and the best proxy there."""
    lines = ["", "## Within each params tercile: the supernets against the strongest free rival",
             "", "(the best proxy is picked per tercile by its tau against the truth: an "
             "upper bound on what a user choosing one proxy in advance gets)", "",
             "| tercile | archs | #params | ensemble | best proxy | " + " | ".join(
                 variants) + " |", "| --- " * (5 + len(variants)) + "|"]
    for i in range(3):
        taus = rivals[f"t{i}"]
        best = max((n for n in taus if n != "ensemble"), key=lambda n: taus[n])
        mine = [[r for r in rows if r["variant"] == v] for v in variants]
        lines.append(f"| T{i + 1} | {rows[0][f'n_t{i}']} | {rows[0][f'params_tau_t{i}']:+.3f} | "
                     f"{taus['ensemble']:+.3f} | {best} {taus[best]:+.3f} | "
                     + " | ".join(_mean(rs, f"tau_t{i}") for rs in mine) + " |")
    return lines


def markdown(rows: list[dict[str, Any]], facts: dict[str, Any], variants: list[str],
             macro: dict[str, Any] | None, title: str,
             rivals: dict[str, Any] | None = None) -> str:
    lines = [f"# {title}", "", "## Ranking (Kendall tau), overall and within params terciles", "",
             "| variant | seeds | tau | #params tau | tau T1 | #params T1 | tau T2 | #params T2 "
             "| tau T3 | #params T3 |", "| --- " * 10 + "|"]
    mine = {v: [r for r in rows if r["variant"] == v] for v in variants}
    for v, rs in mine.items():
        if rs:
            keys = ["kendall_tau", "params_kendall_tau"] + [
                k for i in range(3) for k in (f"tau_t{i}", f"params_tau_t{i}")]
            lines.append(f"| {v} | {len(rs)} | " + " | ".join(_mean(rs, k) for k in keys) + " |")
    lines += ["", "Seconds per epoch (median): " + ", ".join(
        f"{v} {_mean(rs, 'epoch_seconds', '.1f')} training + "
        f"{_mean(rs, 'learning_seconds', '.1f')} sampler "
        "learning" for v, rs in mine.items() if rs) + "."]
    if rivals:
        lines += rivals_markdown(rows, rivals, [v for v, rs in mine.items() if rs])
    lines += ["", "## Fraction of training steps per complexity region (params at run width, "
              "low to high)", "", "| variant | region shares of the space | steps per region |",
              "| --- | --- | --- |"]
    for v, rs in mine.items():
        for r in rs:
            steps = _list(r["steps_fraction"]) if v in ("uniform", "shiftnas") else "not logged"
            lines.append(f"| {v} (seed {r['seed']}) | {_list(r['region_prior'])} | {steps} |")
    lines += ["", "## Budget queries: true NB201 CIFAR-10 test accuracy (%) and regret", "",
              "| budget (params pct / M) | best in budget | random in budget (regret) | largest in "
              "budget = #params (regret) | " + " | ".join(
                  f"{v} search (regret)" for v, rs in mine.items() if rs) + " | generator "
              "(regret) |", "| --- " * (5 + sum(1 for rs in mine.values() if rs)) + "|"]
    for i, b in enumerate(facts["budgets"]):
        cells = [f"p{b['percentile']} / {b['params_M']:.3f}", f"{b['best']:.2f}",
                 _regret(b["best"], [b["random"]]), _regret(b["best"], [b["largest"]])]
        cells += [_regret(b["best"], [r[f"search_b{i}"] for r in rs if f"search_b{i}" in r])
                  for rs in mine.values() if rs]
        cells.append(_regret(b["best"], [r[f"generator_b{i}"] for rs in mine.values()
                                         for r in rs if f"generator_b{i}" in r]))
        lines.append("| " + " | ".join(cells) + " |")
    if macro:
        lines += ["", "## Macro space: generator calibration (|params / requested - 1|)", "",
                  "| decoding | mean error | median error | within 10% |",
                  "| --- | --- | --- | --- |"]
        for name in ("masked", "unmasked"):
            m = macro[name]
            lines.append(f"| {name} | {m['mean_error']:.3f} | {m['median_error']:.3f} | "
                         f"{m['within_10pct']:.2f} |")
    return "\n".join(lines) + "\n"


def _mean(rows: list[dict[str, Any]], key: str, form: str = "+.3f") -> str:
    values = [r[key] for r in rows if r.get(key) is not None and not math.isnan(r[key])]
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{form}} ± {std:.2g}"


def _list(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def _regret(best: float, values: list[float]) -> str:
    if not values:
        return "-"
    mean = statistics.mean(values)
    return f"{mean:.2f} ({best - mean:.2f})"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_study_arguments(parser, list(VARIANTS), "runs/shiftnas")
    parser.set_defaults(variants=["uniform", "shiftnas"])
    parser.add_argument("--trials", type=int, default=100,
                        help="constrained search trials per budget (0: no search)")
    parser.add_argument("--macro", action="store_true", help="also the macro calibration")
    parser.add_argument("--valid-images", type=int, default=5000,
                        help="training images held out for ShiftNAS's scoring, in every variant")
    args = parser.parse_args()
    apply_smoke_and_out(args, "shiftnas")
    if args.smoke:
        args.trials = min(args.trials, 10)
    return args


def main() -> None:
    args = parse_args()
    facts = oracle(NB201Table.from_path())

    def run(variant: str, seed: int, out: Path) -> dict[str, Any]:
        return run_one(args, facts, variant, seed, out)

    cells = [(variant, seed) for seed in args.seeds for variant in args.variants]
    rows = run_cells("shiftnas", cells, args.out, run, args.summary_only)
    for row in rows:  # rows written before timing was tabulated
        row.update(timing(cell_dir(args.out, row["variant"], row["seed"])))
    macro = macro_calibration(args) if args.macro else None
    rivals = tercile_rivals(args, cell_dir(args.out, rows[0]["variant"], rows[0]["seed"]),
                            facts["terciles"]) if rows and not args.no_rank else None
    title = f"ShiftNAS vs uniform, preset {args.preset}, seeds {args.seeds}"
    table = markdown(rows, facts, args.variants, macro, title, rivals)
    write_results(args, rows + ([{"variant": "macro", **macro}] if macro else []), table)


if __name__ == "__main__":
    main()
