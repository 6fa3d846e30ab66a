"""``nasengine`` command line: train, rank, run, search, proxies, study, spaces, info, convert-nats.

Errors derived from :class:`NasEngineError` print one line (problem and fix)
and exit with status 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Sequence

from .errors import ConfigError, NasEngineError


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="demo",
                   help="preset name (demo, cpu-proxy, smoke, nb201-paper) or TOML file [demo]")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set train.epochs=3 (repeatable)")
    p.add_argument("--out", default=None, help="run folder [runs/<config name>]")
    p.add_argument("--space", default=None, help="search space: a name from `nasengine spaces` "
                   "or pkg.module:Factory (sets supernet.space)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nasengine", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("train", "train a supernet"), ("rank", "rank archs with a trained "
                        "supernet against the ground truth"), ("run", "train, then rank")):
        p = sub.add_parser(name, help=help_)
        _run_args(p)
        if name != "rank":
            p.add_argument("--resume", action="store_true",
                           help="continue from the checkpoint in --out")
            p.add_argument("--overwrite", action="store_true",
                           help="start again, replacing the checkpoint in --out")
    search = sub.add_parser("search", help="search the space with a trained supernet (an "
                            "optuna study in --out/search.db or --storage; workers may share "
                            "it), or by gradient (--optimizer darts|gdas)")
    _run_args(search)
    search.add_argument("--optimizer", default="evolution",
                        help="evolution, tpe, random, nsga2 (multi-objective, with --cost), or "
                        "controller (draws from the run's trained ENAS controller); darts or "
                        "gdas: a gradient search that trains its own mixture supernet on "
                        "CIFAR-10 (takes --space [macro], --option, --out, --seed, --device, "
                        "--threads; options: the fields of "
                        "nasengine.search.gradient.GradientSearchOptions)")
    search.add_argument("--budget", type=int, default=100, help="trials (archs proposed) [100]")
    search.add_argument("--search-seed", type=int, default=0, help="the optimiser's seed [0]")
    search.add_argument("--option", dest="options", action="append", default=[],
                        metavar="KEY=VALUE", help="optimiser option, e.g. population=30")
    _limit_args(search)
    search.add_argument("--storage", default=None, metavar="URL",
                        help="optuna storage, any SQLAlchemy URL (e.g. postgresql://...) or a "
                        "SQLite file; workers started on one URL and --study share the search "
                        "[--out/search.db]")
    search.add_argument("--cost", default=None, metavar="NAME",
                        help="hardware-aware: supernet accuracy vs this cost (params, flops, or "
                        "an NB201 table column: latency_ms_help_pixel2, ...); needs a "
                        "multi-objective --optimizer (nsga2, tpe, random)")
    search.add_argument("--study", default=None, metavar="NAME",
                        help="study name in the storage [<optimizer>-seed<search seed>]")
    search.add_argument("--score", default="supernet", choices=("supernet", "hybrid", "proxies"),
                        help="what the search maximises: the supernet's accuracy, the "
                        "hybrid of supernet and proxies.hybrid, or those proxies alone "
                        "(the training-free rival) [supernet]")
    proxies = sub.add_parser("proxies", help="training-free proxies of many archs (cached, "
                             "resumable): --out/proxies.csv")
    _run_args(proxies)
    proxies.add_argument("--archs", default="all",
                         help="'all' (seeded order) or a number of seeded archs [all]")
    proxies.add_argument("--proxies", dest="names", default="",
                         help="comma-separated proxy names [every registered proxy]")
    spaces = sub.add_parser("spaces", help="list the search spaces (bundled, registered, "
                            "from entry points) with their size and decisions")
    spaces.add_argument("--verbose", action="store_true", help="list every decision's choices")
    study = sub.add_parser("study", help="methods x seeds at one budget and protocol, "
                           "ranked against the ground truth: one report (study.md)")
    study.add_argument("study_config", metavar="CONFIG",
                       help="study TOML (examples: benchmarks/studies/*.toml)")
    study.add_argument("--out", default=None, help="study folder [runs/<CONFIG name>]")
    study.add_argument("--workers", type=int, default=None,
                       help="parallel cell processes [the study's workers, else 1]")
    study.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE", help="override a field of every cell (repeatable)")
    study.add_argument("--baseline", default=None, metavar="METHOD",
                       help="test every row against this method [the study's baseline]")
    study.add_argument("--report-only", action="store_true",
                       help="train nothing; report the finished cells")
    generate = sub.add_parser("generate", help="the arch a ShiftNAS run's generator proposes "
                              "for a complexity budget, scored by its supernet")
    _run_args(generate)
    _limit_args(generate)
    generate.add_argument("--refine", type=int, default=0, metavar="N",
                          help="then search N trials under the same budget (evolution) [0]")
    generate.add_argument("--search-seed", type=int, default=0, help="the search's seed [0]")
    info = sub.add_parser("info", help="params/FLOPs of an arch and the size of a space")
    info.add_argument("--space", default="nb201", help="a name or pkg.module:Factory [nb201]")
    info.add_argument("--arch", default=None, help="arch string (NB201: |op~0|+|op~0|op~1|+...)")
    info.add_argument("--channels", type=int, default=16)
    info.add_argument("--cells", type=int, default=5)
    info.add_argument("--classes", type=int, default=10)
    conv = sub.add_parser("convert-nats",
                          help="official NATS-Bench/NB201 file -> compact ground-truth table")
    conv.add_argument("source", help="NATS-tss-v1_0-3ffb9-simple folder or NB201 .pth file")
    conv.add_argument("output", help="output .csv.gz")
    return parser


def _limit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-params", type=float, default=None, metavar="M",
                   help="only archs whose stand-alone network has <= M million params")
    p.add_argument("--max-flops", type=float, default=None, metavar="M",
                   help="only archs whose stand-alone network has <= M million FLOPs")


def _limits(args: argparse.Namespace) -> dict[str, float]:
    return {k: 1e6 * v for k, v in (("params", args.max_params), ("flops", args.max_flops))
            if v is not None}


def _config(args: argparse.Namespace):
    from .config import load_config

    overrides = list(args.overrides)
    for flag, key in (("space", "supernet.space"), ("device", "device"), ("seed", "seed"),
                      ("threads", "threads")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={json.dumps(getattr(args, flag))}")
    return load_config(args.config, overrides)


def _out(args: argparse.Namespace) -> Path:
    from .validation import check_folder

    return check_folder("--out", Path(args.out) if args.out else
                        Path("runs") / Path(args.config).stem)


def _print_ranking(report: dict, out: Path) -> None:
    from .report import hybrid_label, verdict

    if report["protocol"]["oracle"] is None:  # a space without ground truth
        top = report["supernet"]["top"][0]
        print(f"no ground truth for this space: supernet ranking of {report['supernet']['n']} "
              f"archs; top-1 {top['arch']} (score {top['score']:.2f}, {top['params_M']:.4f} M "
              f"params); Kendall tau score vs #params {report['tau_score_vs_params']:+.3f}")
        print(f"report: {out / 'ranking.md'}  {out / 'scores.csv'}")
        return
    s, p = report["supernet"], report["params_proxy"]
    print(f"Kendall tau  supernet {s['kendall_tau']:+.3f}   #params proxy {p['kendall_tau']:+.3f}")
    print(f"Spearman rho supernet {s['spearman_rho']:+.3f}   #params proxy {p['spearman_rho']:+.3f}")
    others = {**({hybrid_label(report): report["hybrid"]} if "hybrid" in report else {}),
              **report.get("rivals", {})}
    if others:
        print("Kendall tau  " + "   ".join(f"{k} {m['kendall_tau']:+.3f}"
                                           for k, m in others.items()))
    print(f"supernet top-1 pick: true acc {s['top1_true_acc']:.2f}% "
          f"(rank {s['top1_true_rank']} of {s['n']})")
    print(verdict(report))
    print(f"report: {out / 'ranking.md'}  {out / 'ranking.png'}")


def _print_search(report: dict, out: Path) -> None:
    best = report["best"]
    if report["rejected"]:
        print(f"{report['rejected']} proposals broke the complexity limit (not evaluated)")
    score = report["search"].get("score", {}).get("name", "supernet")
    shown = (f"supernet {best['score']:.2f}%" if score == "supernet"
             else f"{score} score {best['score']:.3g}")
    print(f"{report['trials']} trials, {report['evaluations']} evaluations; best: "
          f"{best['arch']} ({shown})")
    if "true_acc" in best:
        against = " (vs the best NB201 arch, ignoring the limit)" if report["rejected"] else ""
        print(f"its true accuracy {best['true_acc']:.2f}%, regret "
              f"{best.get('regret', float('nan')):.2f} points{against}; "
              f"curve: {out / 'search.png'}")
    if "pareto" in report:
        pareto = report["pareto"]
        hv = pareto.get("hypervolume")
        print(f"Pareto front (supernet score vs {pareto['cost']}): {len(pareto['front'])} archs"
              + (f"; hypervolume at their true accuracy {hv['ratio']:.1%} of the true front's"
                 if hv else "") + f"; plot: {pareto['plot']}")
    print(f"report: {out / 'search.json'}  study {report['study']['name']!r} in "
          f"{report['study']['storage']} (optuna-dashboard {report['study']['storage']})")


def _print_generate(report: dict, out: Path) -> None:
    for key in ("generated", "refined"):
        if key in report:
            e = report[key]
            truth = f", true accuracy {e['true_acc']:.2f}%" if "true_acc" in e else ""
            print(f"{key}: {e['arch']}  supernet {e['score']:.2f}%  params {e['params'] / 1e6:.3f}M"
                  f"  FLOPs {e['flops'] / 1e6:.2f}M{truth}")
    print(f"best: {report['best']['arch']}  ({report['candidates']} generated candidates fit "
          f"the budget)\nreport: {out / 'generate.json'}")


def _options(pairs: Sequence[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option takes KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "info":
        return _info(args)
    if args.command == "spaces":
        return _spaces(args)
    if args.command == "convert-nats":
        from .benchmark.nats import convert_nats

        convert_nats(args.source, Path(args.output))
        return 0
    from . import api
    from .distributed import is_writer, world_size

    if args.command == "study":
        return _study(args)
    if world_size() > 1 and args.command == "search":
        raise ConfigError("torchrun runs train, rank and run; start search workers as "
                          "separate processes on one --storage/--study instead")
    if args.command == "search" and _gradient(args.optimizer):
        return _gradient_search(args)
    config, out, progress = _config(args), _out(args), not args.no_progress
    if config.estimate_cost and args.command in ("train", "run"):
        from .cost import format_estimate, estimate_cost

        print(format_estimate(estimate_cost(config)), flush=True)
    if args.command == "train":
        api.train(config, out, resume=args.resume, progress=progress, overwrite=args.overwrite)
        if is_writer():
            print(f"trained: {out / 'checkpoint.pt'}")
    elif args.command == "search":
        _print_search(api.search(config, out, args.optimizer, args.budget, args.search_seed,
                                 _options(args.options), progress=progress,
                                 limits=_limits(args),
                                 storage=args.storage, study=args.study, cost=args.cost,
                                 score=args.score), out)
    elif args.command == "proxies":
        from .proxies.setup import write_table

        names = [n.strip() for n in args.names.split(",") if n.strip()]
        summary = write_table(config, out, space=args.space, archs=args.archs, names=names,
                              progress=progress)
        per_arch = summary["seconds_per_computed_arch"]
        print(f"{summary['archs']} archs x {len(summary['proxies'])} proxies; computed "
              f"{summary['computed']} in {summary['seconds']:.1f} s"
              + (f" ({per_arch:.3f} s each)" if per_arch else " (all from the cache)"))
        print(f"table: {out / 'proxies.csv'}  cache: {summary['cache']}")
    elif args.command == "generate":
        _print_generate(api.generate(config, out, _limits(args), args.refine, args.search_seed,
                                     progress=progress), out)
    elif args.command == "rank":
        report = api.rank(config, out, progress=progress)
        if is_writer():
            _print_ranking(report, out)
    else:
        report = api.run(config, out, resume=args.resume, progress=progress,
                         overwrite=args.overwrite)
        if is_writer():
            _print_ranking(report, out)
    if args.command in ("train", "run") and (out / "fewshot_tree.txt").exists():
        print(f"few-shot split tree: {out / 'fewshot_tree.txt'}  {out / 'fewshot_tree.png'}")
    return 0


def _gradient(optimizer: str) -> bool:
    from .search.gradient import GRADIENT_SEARCHES

    return optimizer in GRADIENT_SEARCHES


_GRADIENT_FLAGS = {"command", "optimizer", "options", "out", "space", "seed", "device",
                   "threads", "no_progress"}
_FLAG_NAMES = {"overrides": "--set", "options": "--option"}


def _gradient_search(args: argparse.Namespace) -> int:
    """``search --optimizer darts|gdas``: the flags of the optuna search are refused, not
    ignored, so a --budget or --config given here never silently does nothing."""
    from .search.gradient import gradient_search
    from .validation import check_folder

    defaults = vars(_parser().parse_args(["search"]))
    for dest, value in vars(args).items():
        if dest not in _GRADIENT_FLAGS and value != defaults[dest]:
            flag = _FLAG_NAMES.get(dest, "--" + dest.replace("_", "-"))
            raise ConfigError(f"{flag} is an option of the optuna search, not of the gradient "
                              f"search --optimizer {args.optimizer}; drop it (gradient search "
                              f"settings are --option KEY=VALUE)")
    out = check_folder("--out", Path(args.out) if args.out else Path("runs") / args.optimizer)
    given = {k: getattr(args, k) for k in ("seed", "device", "threads")
             if getattr(args, k) is not None}
    result = gradient_search(args.optimizer, out, _options(args.options), space=args.space,
                             **given)
    print(json.dumps({k: result[k] for k in ("arch_string", "params", "flops")}, indent=1))
    print(f"history: {json.dumps(result['history'][-1], default=str)[:300]}")
    print(f"outputs: {out}/result.json, alphas.jsonl, {', '.join(result['plots'])}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from . import api

    out = Path(args.out) if args.out else Path("runs") / Path(args.study_config).stem
    report = api.study(args.study_config, out, workers=args.workers, overrides=args.overrides,
                       report_only=args.report_only, baseline=args.baseline)
    for name, row in report["rows"].items():
        tau = row["kendall_tau"]
        print(f"{name:>24}: Kendall tau {tau['mean']:+.3f} ± {tau['std']:.3f} "
              f"over {len(tau['per_seed'])} seed(s)")
    print(f"report: {out / 'study.md'}  {out / 'study.json'}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from .families import arch_info, get_family

    from .validation import check_rule, at_least

    for flag in ("channels", "cells", "classes"):
        check_rule(f"--{flag}", getattr(args, flag), at_least(1))
    family = get_family(args.space)
    space = family.space()
    if args.arch is None:
        info = {"space": args.space, "size": len(space),
                "decisions": {k: list(d.values) for k, d in space.decisions.items()}}
    else:
        given = {"channels": args.channels, "cells": args.cells, "num_classes": args.classes}
        known = family.options()
        info = arch_info(space.parse(args.arch), family,
                        **{k: v for k, v in given.items() if known is None or k in known})
    print(json.dumps(info))
    return 0


def _spaces(args: argparse.Namespace) -> int:
    from .families import get_family, space_names

    for name in space_names():
        try:
            space = get_family(name).space()
        except NasEngineError as exc:  # one broken plugin must not hide the others
            print(f"{name}: cannot load ({exc})")
            continue
        print(f"{name}: {len(space):,} archs, {len(space.decisions)} decisions")
        if args.verbose:
            for label, dec in space.decisions.items():
                print(f"  {label}: {list(dec.values)}")
    return 0


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"nasengine: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    warnings.formatwarning = _one_line_warning
    try:
        status = _dispatch(args)
        from .distributed import finish  # only after success: a failed rank must not wait

        finish()
        return status
    except NasEngineError as exc:
        print(f"nasengine: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused (permissions, full disk, odd paths)
        where = f" {exc.filename}" if exc.filename else ""
        print(f"nasengine: error: cannot write or read{where} ({exc.strerror or exc}); check the "
              f"path, its permissions and free space", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kind = "gradient" if args.command == "search" and _gradient(args.optimizer) else \
            args.command
        print(f"nasengine: interrupted; {_CONTINUE.get(kind, 'nothing was lost')}",
              file=sys.stderr)
        return 130


_CONTINUE = {  # what a Ctrl-C keeps, and the command that carries on
    "train": "the last finished epoch is checkpointed (continue with --resume)",
    "run": "the last finished epoch is checkpointed (continue with --resume)",
    "search": "finished trials are stored in the study (--out/search.db or --storage; run "
              "the same search command again to continue)",
    "gradient": "a gradient search keeps no checkpoint (run it again to start over)",
    "rank": "nothing was written (run rank again)",
    "study": "finished cells are checkpointed (rerun the same command to continue)",
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
