"""Training-free proxies against NB201, alone and beside trained supernets.

Four measurements:

* ``table``: every proxy over NB201 archs (all 15,625 in a seeded random order, so a
  table stopped early is a uniform sample) against CIFAR-10 test accuracy: Kendall τ,
  Spearman ρ, P@top-5% with 95% bootstrap CIs, seconds per arch, beside the published
  values. Proxies come from the shared cache (``nasengine proxies`` fills it, resumably);
  ``--cached-only`` scores the finished prefix without computing more.
* ``speed``: CPU seconds per arch of each pass and proxy (process time of one thread,
  meaningful on a busy machine), over ``--archs`` seeded archs, and the projected time
  of the whole space's table.
* ``recheck``: the first ``--archs`` archs of the cache recomputed with this code: how
  many cached values it reproduces bit for bit, per proxy and cached version.
* ``compare``: trained supernets (``--runs``) vs #params vs every proxy vs the ensemble
  vs the hybrid (``hybrid``: the default ``logrank-sum`` rule; ``hybrid-<rule>``: each
  other rule of ``HYBRID_RULES``, e.g. ``hybrid-shortlist``), on the evaluation sample of
  each ``--arch-seeds``, against the truth of each ``--datasets`` (the supernet scores
  are computed once per run and sample and kept in ``<run>/proxy-bench/``); with
  ``--search-budget`` also the regret of an evolution search maximising the supernet,
  each hybrid rule and the proxies alone (the hybrid searches reuse those kept scores).

Reproduce (RESULTS §8):
    nasengine proxies --config cpu-proxy --archs all --set proxies.workers=2 --out runs/px-all
    python benchmarks/bench_proxies.py table --cached-only
    python benchmarks/bench_proxies.py speed --archs 20
    python benchmarks/bench_proxies.py recheck --archs 40
    nasengine train --config cpu-proxy --threads 2 --set train.data_parallel=2 \
        --set sampler.name=pada --seed 0 --out runs/pada-s0
    python benchmarks/bench_proxies.py compare --runs runs/pada-s0 --arch-seeds 0 1 \
        --datasets cifar10 cifar100
"""
from __future__ import annotations

import argparse
import math
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasengine import api
from nasengine.benchmark import NB201Table
from nasengine.config import ProxyConfig, from_dict, load_config
from nasengine.metrics import ranking_metrics
from nasengine.proxies import PROXIES, Probe
from nasengine.proxies.hybrid import HYBRID_RULES, hybrid_ranking
from nasengine.proxies.setup import arch_list, proxy_table
from nasengine.report import orderable, ranking_report
from nasengine.study.analysis import top_tau

from _table import mean_std

#: the rule of the plain "hybrid" rows; every other registered rule gets "hybrid-<rule>"
DEFAULT_RULE = ProxyConfig().rule

#: Spearman ρ over all 15,625 archs vs the cifar10-valid model's test accuracy, batch 64
#: of real images (Abdelfattah et al., zero-cost-nas); AZ-NAS notebook (NATS cifar10
#: test, random inputs, batch 64): τ 0.741 / ρ 0.913 for its log-rank ensemble
PUBLISHED_RHO = {"synflow": 0.737, "jacob_cov": 0.731, "snip": 0.596, "grad_norm": 0.594,
                 "fisher": 0.36}
PUBLISHED_ENSEMBLE = "τ 0.741 / ρ 0.913 (AZ-NAS)"
# NAS-Bench-Suite-Zero (724 archs, cifar10 valid): τ / ρ
SUITE_ZERO = {"naswot": "0.593 / 0.787", "jacob_cov": "0.584 / 0.766",
              "params": "0.562 / 0.738", "synflow": "0.537 / 0.736", "flops": "0.520 / 0.711",
              "snip": "0.443 / 0.608", "grad_norm": "0.439 / 0.607", "fisher": "0.373 / 0.509"}


def _fmt(metrics: dict, key: str) -> str:
    ci = metrics["ci95"].get(key)
    return f"{metrics[key]:+.3f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")


def table(args: argparse.Namespace) -> None:
    config = load_config(args.config, args.overrides)
    px = proxy_table(config)
    names = args.proxies or PROXIES.names()
    per_arch = [m for n in names for m in PROXIES.create(n).members]
    sample = arch_list(px.space, args.archs, config.evaluate.arch_seed)
    if args.cached_only:
        done = 0
        while done < len(sample) and px.has(sample[done], per_arch):
            done += 1
        if done < min(3, len(sample)):
            missing = [PROXIES.create(n).cache_key for n in dict.fromkeys(per_arch)
                       if not px.has(sample[done], [n])]
            raise SystemExit(f"the cache {px.path} holds no finished prefix of {args.archs} "
                             f"archs ({px.space.format(sample[done])} lacks {missing}); fill "
                             f"it with: nasengine proxies --config {args.config} --archs "
                             f"{args.archs} --out runs/px-{args.archs}")
        sample = sample[:done]
    columns = px.columns(sample, names, progress=False, workers=config.proxies.workers)
    oracle = NB201Table.from_path(config.evaluate.oracle)
    fmt = [px.space.format(a) for a in sample]
    sources = {px.source(a, PROXIES.create(n)) for a in sample for n in per_arch}
    seconds = sum(px.seconds.get(s, 0.0) for s in sources)
    cpu = [px.cpu_seconds[s] for s in sources if s in px.cpu_seconds]
    cpu_per_arch = sum(cpu) / len(cpu) * len(sources) / max(len(sample), 1) if cpu else math.nan
    print(f"{len(sample)} archs, {len(sources)} proxy jobs (equivalent archs share "
          f"function-only proxies); worker wall time {seconds:.0f} s = "
          f"{seconds / max(len(sample), 1):.2f} s per arch; CPU time {cpu_per_arch:.2f} s per "
          f"arch ({len(cpu)} jobs timed); setup {px.setup.key()}\n")
    ordered = {name: orderable(columns[name]) for name in names}
    for dataset in args.datasets:
        truth = [oracle.accuracy(n, dataset=dataset, split="test") for n in fmt]
        optimum = oracle.best_accuracy(dataset)
        metrics = {name: ranking_metrics(ordered[name], truth, seed=0, topk=(5,),
                                         n_bootstrap=args.bootstrap, optimum=optimum)
                   for name in names}
        print(f"{dataset} test accuracy (NB201 optimum {optimum:.2f}%):\n")
        published = dataset == "cifar10"
        print("| proxy | Kendall τ | Spearman ρ | P@top-5% | τ in true top-10% | "
              "top-1 pick: acc % (regret) |"
              + (" published ρ (Abdelfattah) | published τ / ρ (Suite-Zero, 724 archs) |"
                 if published else ""))
        print("|---|---|---|---|---|---|" + ("---|---|" if published else ""))
        for name in sorted(names, key=lambda n: -metrics[n]["kendall_tau"]):
            m = metrics[name]
            cells = [name, _fmt(m, "kendall_tau"), _fmt(m, "spearman_rho"),
                     _fmt(m, "precision_at_5"), f"{top_tau_of(ordered[name], truth):+.3f}",
                     f"{m['top1_true_acc']:.2f} ({m['regret_global']:.2f})"]
            if published:
                cells += [PUBLISHED_ENSEMBLE if name == "ensemble" else
                          (f"{PUBLISHED_RHO[name]:.3f}" if name in PUBLISHED_RHO else "-"),
                          SUITE_ZERO.get(name, "-")]
            print("| " + " | ".join(cells) + " |")
        print()


def top_tau_of(ordered: np.ndarray, truth) -> float:
    """Kendall τ among the truly best 10% of the scored archs (``ordered``: orderable
    scores): how well the top is ordered."""
    return float(top_tau(ordered[None], np.asarray(truth)[None], 10)[0])


def speed(args: argparse.Namespace) -> None:
    """CPU seconds (this process, 1 thread) of each stage of the probe, per arch."""
    import torch

    torch.set_num_threads(1)
    config = load_config(args.config, args.overrides)
    px = proxy_table(config)
    stages = {"build + seeded init": [], "forward (+ ReLU codes, features)": []}
    sample = arch_list(px.space, str(args.archs), 0)
    names = [n for n in PROXIES.names() if n != "ensemble"]
    for arch in sample:
        net = dict(px.setup.net)
        probe = Probe(lambda: px.family.standalone(arch, **net), px.batch, px.setup.seed,
                      px.family.input_shape(**net))
        for label, step in (("build + seeded init", lambda: probe.net),
                            ("forward (+ ReLU codes, features)", lambda: probe.forward),
                            *((n, lambda n=n: PROXIES.create(n).score(probe)) for n in names)):
            start = time.process_time()
            step()
            stages.setdefault(label, []).append(time.process_time() - start)
    mean = {label: sum(values) / len(values) for label, values in stages.items()}
    total = sum(mean.values())
    print(f"CPU seconds per arch over {len(sample)} seeded NB201 archs ({px.setup.key()}); a "
          "proxy's row is what it adds once the probe's earlier passes exist (passes are "
          "shared: snip, grad_norm and fisher share one loss backward)\n")
    print("| stage | CPU s / arch |\n|---|---|")
    for label, value in mean.items():
        print(f"| {label} | {value:.3f} |")
    print(f"| **all proxies** | **{total:.3f}** |")
    projection(px, mean, total)


def projection(px, mean: dict[str, float], total: float) -> None:
    """The whole space's table from these means: every proxy once per equivalence class
    (function-only proxies are shared), plus the network, its forward and the other
    proxies (NASWOT, #params, FLOPs) for every further arch."""
    space, family = px.space, px.family
    classes = len({space.format(family.canonical(space.decode(i))) for i in range(len(space))})
    per_arch = [n for n in PROXIES.names() if n in mean and not PROXIES.create(n).function_only]
    rest = sum(mean[k] for k in ("build + seeded init", "forward (+ ReLU codes, features)",
                                 *per_arch))
    cpu = classes * total + (len(space) - classes) * rest
    print(f"\nprojected table of all {len(space)} archs: {classes} classes x {total:.3f} s + "
          f"{len(space) - classes} further archs x {rest:.3f} s ({', '.join(per_arch)}) = "
          f"{cpu / 3600:.2f} CPU-hours, {cpu / 2 / 3600:.2f} h on 2 free cores "
          f"({cpu / len(space):.3f} s per arch)")


def recheck(args: argparse.Namespace) -> None:
    """Recompute the first ``--archs`` archs of the cache with this code and compare every
    cached value, whatever version of its proxy cached it: are the cached values still what
    this code computes (bit for bit), and how far did a proxy with a new version move?"""
    import torch

    torch.set_num_threads(1)
    px = proxy_table(load_config(args.config, args.overrides))
    stats: dict[str, dict] = {}
    for arch, row in list(px.rows.items())[:args.archs]:
        cached: dict[str, dict[str, float]] = {}  # proxy -> {cache key: value}
        for key, value in row.items():
            if key.split("@")[0] in PROXIES:
                cached.setdefault(key.split("@")[0], {})[key] = value
        fresh = px.score(px.space.parse(arch), sorted(cached))
        for name, values in cached.items():
            for key, old in values.items():
                s = stats.setdefault((name, key), {"n": 0, "same": 0, "rel": 0.0})
                new = fresh[name]
                s["n"] += 1
                s["same"] += new == old
                if new != old and math.isfinite(old) and old != 0:
                    s["rel"] = max(s["rel"], abs(new - old) / abs(old))
    print(f"{min(args.archs, len(px.rows))} cached archs of {px.path.name} recomputed\n")
    print("| proxy | cached as | computed as | values | bit-identical | max relative difference |")
    print("|---|---|---|---|---|---|")
    for (name, key), s in sorted(stats.items()):
        print(f"| {name} | {key} | {PROXIES.create(name).cache_key} | {s['n']} | {s['same']} | "
              f"{s['rel']:.1e} |")


def run_scores(pipe: api.Pipeline, run: Path, seed: int) -> tuple[list, list[float], dict]:
    """The supernet's scores of the sample (kept in the run folder: computed once)."""
    path = run / "proxy-bench" / f"supernet-scores-seed{seed}.json"
    archs = pipe.arch_sample()
    if path.is_file():
        saved = json.loads(path.read_text())
        return archs, saved["scores"], saved["protocol"]
    api._load_trained(pipe, run)
    evaluator = pipe.evaluator()
    start = time.perf_counter()
    scores = evaluator.score_many(archs, progress=False, workers=pipe.config.evaluate.workers)
    protocol = {**evaluator.describe(), "seconds": time.perf_counter() - start}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"scores": scores, "protocol": protocol}))
    return archs, scores, protocol


def search_objectives() -> list[str]:
    """The objectives ``search_rows`` can search with (``--searches`` picks among them)."""
    rules = [f"hybrid-{n}" for n in HYBRID_RULES.names() if n != DEFAULT_RULE]
    return ["supernet", "hybrid", *rules, "proxies"]


def compare(args: argparse.Namespace) -> None:
    """Per run the rows of every scorer; then each (method, sample, truth, scorer) over runs."""
    unknown = sorted(set(args.searches or ()) - set(search_objectives()))
    if unknown:  # before any scoring
        raise SystemExit(f"--searches {' '.join(unknown)}: unknown; choose from "
                         f"{', '.join(search_objectives())}")
    rows: list[dict] = []
    print("| run | arch_seed | truth | scorer | Kendall τ | P@top-5% | top-1 regret in sample |")
    print("|---|---|---|---|---|---|---|")
    for run in map(Path, args.runs):
        base = json.loads((run / "config.json").read_text())
        for seed in args.arch_seeds:
            values = {**base, "proxies": {**base.get("proxies", {}),
                                          "names": args.proxies or PROXIES.names(),
                                          "workers": args.workers, "rule": DEFAULT_RULE}}
            values["evaluate"] = {**values["evaluate"], "arch_seed": seed,
                                  "workers": args.workers}
            pipe = api.build(from_dict(values), progress=False)
            archs, scores, protocol = run_scores(pipe, run, seed)
            for dataset in args.datasets:
                rows += ranking_rows(args, pipe, run, seed, dataset, archs, scores, protocol)
            if args.search_budget and seed in (args.search_arch_seeds or args.arch_seeds):
                reference = {"scores": scores, "protocol": protocol}
                rows += search_rows(pipe.config, run, seed, args.search_budget, reference,
                                    only=args.searches)
    print(aggregate(rows))


def _method(run: Path) -> str:
    """``runs/samplers/cells/PADA/seed0`` -> ``PADA``; a run folder not named seedN is its own method."""
    return run.parent.name if run.name.startswith("seed") else run.name


def ranking_rows(args: argparse.Namespace, pipe: api.Pipeline, run: Path, seed: int,
                 dataset: str, archs: list, scores: list[float], protocol: dict) -> list[dict]:
    """Every scorer's figures on one sample against one truth (and its report files)."""
    pipe.config.evaluate.oracle_dataset = dataset
    data = api.ranking_data(pipe, archs, scores, protocol, progress=False)
    report = ranking_report(data, run / "proxy-bench" / f"seed{seed}-{dataset}",
                            seconds=protocol["seconds"], config=pipe.config.to_dict(),
                            n_bootstrap=args.bootstrap, seed=seed)
    scorers = {"supernet": report["supernet"], "hybrid": report["hybrid"],
               **other_rules(args, pipe, data, seed), "#params": report["params_proxy"],
               **report["rivals"]}
    out = []
    for name, m in scorers.items():
        print(f"| {run} | {seed} | {dataset} | {name} | {_fmt(m, 'kendall_tau')} | "
              f"{m['precision_at_5']:.2f} | {m['regret']:.2f} |")
        out.append({"method": _method(run), "arch_seed": seed, "truth": dataset,
                    "scorer": name, "tau": m["kendall_tau"], "p5": m["precision_at_5"],
                    "regret": m["regret"]})
    return out


def other_rules(args: argparse.Namespace, pipe: api.Pipeline, data, seed: int) -> dict:
    """The figures of each non-default hybrid rule on the report's data (same bootstrap)."""
    out = {}
    for name in HYBRID_RULES.names():
        if name != DEFAULT_RULE:
            rule = HYBRID_RULES.create(name, config=pipe.config.proxies)
            out[f"hybrid-{name}"] = ranking_metrics(
                hybrid_ranking(data, pipe.config.proxies.hybrid, rule), data.truth,
                n_bootstrap=args.bootstrap, seed=seed, optimum=data.optimum)
    return out


def search_rows(config, run: Path, seed: int, budget: int,
                reference: dict | None = None, only: list[str] | None = None) -> list[dict]:
    """Regret of a ``budget``-trial evolution search maximising the supernet, each hybrid
    rule and the proxies alone (``proxies.hybrid``'s members: AZ-NAS's ensemble); ``only``
    keeps those objectives. The hybrids rank against the sample's ``reference`` supernet
    scores (checked to be this search's protocol) instead of scoring the sample again."""
    out = []
    config.evaluate.oracle_dataset = "cifar10"  # the regret below is against CIFAR-10's truth
    labels = [label for label in search_objectives() if not only or label in only]
    for label in labels:
        score, chosen = _objective(config, label)
        folder = run / "proxy-bench" / f"search-{label}-seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "checkpoint.pt").unlink(missing_ok=True)
        (folder / "checkpoint.pt").symlink_to((run / "checkpoint.pt").resolve())
        report = api.search(chosen, folder, "evolution", budget, seed, progress=False,
                            score=score, reference=reference)
        print(f"search {run} arch_seed {seed} objective {label}: regret "
              f"{report['best']['regret']:.2f} (true acc {report['best']['true_acc']:.2f}%, "
              f"{report['evaluations']} evaluations)")
        out.append({"method": _method(run), "arch_seed": seed, "truth": "cifar10",
                    "scorer": f"search: {label}", "search_regret": report["best"]["regret"]})
    return out


def _objective(config, label: str) -> tuple[str, Any]:
    """(``api.search``'s score, the config it searches with) of a ``search_objectives`` label:
    ``hybrid-<rule>`` is the hybrid under that rule, the others score as they are named."""
    if label.startswith("hybrid-"):
        return "hybrid", with_rule(config, label.removeprefix("hybrid-"))
    return label, config


def with_rule(config, rule: str):
    """``config`` with ``proxies.rule = rule`` (a copy)."""
    values = config.to_dict()
    values["proxies"]["rule"] = rule
    return from_dict(values)


def aggregate(rows: list[dict]) -> str:
    """Mean ± std over the runs of each method (one run per training seed)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["arch_seed"], row["truth"], row["scorer"]),
                          []).append(row)
    lines = ["", "| method | arch_seed | truth | scorer | runs | Kendall τ | P@top-5% | "
             "top-1 regret in sample | evolution-search regret |", "|---" * 9 + "|"]
    for (method, seed, truth, scorer), mine in groups.items():
        cells = [mean_std([r.get(k) for r in mine]) for k in ("tau", "p5", "regret",
                                                               "search_regret")]
        lines.append(f"| {method} | {seed} | {truth} | {scorer} | {len(mine)} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("table")
    t.add_argument("--config", default="cpu-proxy")
    t.add_argument("--set", dest="overrides", action="append", default=[])
    t.add_argument("--archs", default="all")
    t.add_argument("--cached-only", action="store_true")
    t.add_argument("--bootstrap", type=int, default=200)
    t.add_argument("--proxies", nargs="*", default=[], help="proxies to score [all]")
    t.add_argument("--datasets", nargs="+", default=["cifar10"],
                   help="NB201 truths, one table each (cifar10 cifar100 ImageNet16-120)")
    sp = sub.add_parser("speed")
    sp.add_argument("--config", default="cpu-proxy")
    sp.add_argument("--set", dest="overrides", action="append", default=[])
    sp.add_argument("--archs", type=int, default=10)
    r = sub.add_parser("recheck")
    r.add_argument("--config", default="cpu-proxy")
    r.add_argument("--set", dest="overrides", action="append", default=[])
    r.add_argument("--archs", type=int, default=20)
    c = sub.add_parser("compare")
    c.add_argument("--runs", nargs="+", required=True)
    c.add_argument("--arch-seeds", nargs="+", type=int, default=[0])
    c.add_argument("--datasets", nargs="+", default=["cifar10"])
    c.add_argument("--workers", type=int, default=2)
    c.add_argument("--bootstrap", type=int, default=1000)
    c.add_argument("--search-budget", type=int, default=0)
    c.add_argument("--search-arch-seeds", nargs="*", type=int, default=None,
                   help="arch seeds whose sample ranks the searches' objectives [--arch-seeds]")
    c.add_argument("--proxies", nargs="*", default=[], help="proxies shown [all]")
    c.add_argument("--searches", nargs="*", default=None,
                   help="search objectives to run, e.g. supernet hybrid proxies [all]")
    args = parser.parse_args()
    np.seterr(all="ignore")
    {"table": table, "speed": speed, "recheck": recheck, "compare": compare}[args.what](args)


if __name__ == "__main__":
    main()
