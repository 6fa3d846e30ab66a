"""``nasengine`` command line: train, rank, run, search, info, convert-nats.

Errors derived from :class:`NasEngineError` print one line (problem and fix)
and exit with status 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .errors import ConfigError, NasEngineError


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="demo",
                   help="preset name (demo, cpu-proxy, smoke) or TOML file [demo]")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set train.epochs=3 (repeatable)")
    p.add_argument("--out", default=None, help="run folder [runs/<config name>]")
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
    search = sub.add_parser("search", help="search the space with a trained supernet "
                            "(evolution, tpe, random; an optuna study in --out/search.db)")
    _run_args(search)
    search.add_argument("--optimizer", default="evolution",
                        help="evolution, tpe, random, or controller (draws from the run's "
                        "trained ENAS controller)")
    search.add_argument("--budget", type=int, default=100, help="trials (archs proposed) [100]")
    search.add_argument("--search-seed", type=int, default=0, help="the optimiser's seed [0]")
    search.add_argument("--option", dest="options", action="append", default=[],
                        metavar="KEY=VALUE", help="optimiser option, e.g. population=30")
    search.add_argument("--max-params", type=float, default=None, metavar="M",
                        help="only archs whose stand-alone network has <= M million params")
    search.add_argument("--max-flops", type=float, default=None, metavar="M",
                        help="only archs whose stand-alone network has <= M million FLOPs")
    info = sub.add_parser("info", help="params/FLOPs of an arch and the size of a space")
    info.add_argument("--space", default="nb201")
    info.add_argument("--arch", default=None, help="arch string (NB201: |op~0|+|op~0|op~1|+...)")
    info.add_argument("--channels", type=int, default=16)
    info.add_argument("--cells", type=int, default=5)
    info.add_argument("--classes", type=int, default=10)
    conv = sub.add_parser("convert-nats",
                          help="official NATS-Bench/NB201 file -> compact ground-truth table")
    conv.add_argument("source", help="NATS-tss-v1_0-3ffb9-simple folder or NB201 .pth file")
    conv.add_argument("output", help="output .csv.gz")
    return parser


def _config(args: argparse.Namespace):
    from .config import load_config

    overrides = list(args.overrides)
    for flag, key in (("device", "device"), ("seed", "seed"), ("threads", "threads")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={json.dumps(getattr(args, flag))}")
    return load_config(args.config, overrides)


def _out(args: argparse.Namespace) -> Path:
    return Path(args.out) if args.out else Path("runs") / Path(args.config).stem


def _print_ranking(report: dict, out: Path) -> None:
    from .report import verdict

    s, p = report["supernet"], report["params_proxy"]
    print(f"Kendall tau  supernet {s['kendall_tau']:+.3f}   #params proxy {p['kendall_tau']:+.3f}")
    print(f"Spearman rho supernet {s['spearman_rho']:+.3f}   #params proxy {p['spearman_rho']:+.3f}")
    print(f"supernet top-1 pick: true acc {s['top1_true_acc']:.2f}% "
          f"(rank {s['top1_true_rank']} of {s['n']})")
    print(verdict(report))
    print(f"report: {out / 'ranking.md'}  {out / 'ranking.png'}")


def _print_search(report: dict, out: Path) -> None:
    best = report["best"]
    if report["rejected"]:
        print(f"{report['rejected']} proposals broke the complexity limit (not evaluated)")
    print(f"{report['trials']} trials, {report['evaluations']} supernet evaluations; best: "
          f"{best['arch']} (supernet {best['score']:.2f}%)")
    if "true_acc" in best:
        against = " (vs the best NB201 arch, ignoring the limit)" if report["rejected"] else ""
        print(f"its true accuracy {best['true_acc']:.2f}%, regret "
              f"{best.get('regret', float('nan')):.2f} points{against}; "
              f"curve: {out / 'search.png'}")
    print(f"report: {out / 'search.json'}  study: {out / 'search.db'}")


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
    if args.command == "convert-nats":
        from .benchmark.nats import convert_nats

        convert_nats(args.source, Path(args.output))
        return 0
    from . import api

    config, out, progress = _config(args), _out(args), not args.no_progress
    if args.command == "train":
        api.train(config, out, resume=args.resume, progress=progress)
        print(f"trained: {out / 'checkpoint.pt'}")
    elif args.command == "search":
        limits = {k: 1e6 * v for k, v in (("params", args.max_params),
                                          ("flops", args.max_flops)) if v is not None}
        _print_search(api.search(config, out, args.optimizer, args.budget, args.search_seed,
                                 _options(args.options), progress=progress, limits=limits), out)
    elif args.command == "rank":
        _print_ranking(api.rank(config, out, progress=progress), out)
    else:
        _print_ranking(api.run(config, out, resume=args.resume, progress=progress), out)
    if args.command in ("train", "run") and (out / "fewshot_tree.txt").exists():
        print(f"few-shot split tree: {out / 'fewshot_tree.txt'}  {out / 'fewshot_tree.png'}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from .spaces import describe, get_family

    family = get_family(args.space)
    space = family.space()
    if args.arch is None:
        info = {"space": args.space, "size": len(space),
                "decisions": {k: list(d.values) for k, d in space.decisions.items()}}
    else:
        info = describe(space.parse(args.arch), family, channels=args.channels,
                        cells=args.cells, num_classes=args.classes)
    print(json.dumps(info))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except NasEngineError as exc:
        print(f"nasengine: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nasengine: interrupted; the last finished epoch is checkpointed "
              "(continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
