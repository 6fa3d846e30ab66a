"""Result tables shared by the method studies (bench_pada, bench_fewshot)."""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping

from nasengine.config import PRESET_DIR


def mean_std(values: list[Any]) -> str:
    """``mean ± std`` over seeds (std 0 for one seed); ``-`` when nothing was measured."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4g} ± {std:.2g}"


def variant_table(rows: list[dict[str, Any]], title: str, columns: Mapping[str, str],
                  variants: Iterable[str]) -> str:
    """One line per variant, each column ``mean ± std`` over that variant's seeds."""
    shown = [c for c, key in columns.items() if any(key in r for r in rows)]
    lines = [f"# {title}", "", "| variant | seeds | " + " | ".join(shown) + " |",
             "| --- " * (len(shown) + 2) + "|"]
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        if mine:
            cells = [mean_std([r.get(columns[c]) for r in mine]) for c in shown]
            lines.append(f"| {variant} | {len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def add_study_arguments(parser: argparse.ArgumentParser, variants: list[str],
                        out_help: str) -> None:
    """The options every method study shares: preset, seeds, variants, output, overrides."""
    default = "cpu-proxy" if (PRESET_DIR / "cpu-proxy.toml").exists() else "demo"
    parser.add_argument("--preset", default=default)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=variants, choices=variants)
    parser.add_argument("--out", type=Path, default=None, help=out_help)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every run, e.g. train.epochs=12")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-rank", action="store_true", help="skip the NB201 ranking")
    parser.add_argument("--summary-only", action="store_true",
                        help="train nothing; tabulate the finished cells")
    parser.add_argument("--smoke", action="store_true", help="tiny run of the smoke preset")


def apply_smoke_and_out(args: argparse.Namespace, name: str) -> None:
    """``--smoke``: the smoke preset, seed 0, tiny overrides; ``--out``: runs/<name>[-smoke]."""
    if args.smoke:
        args.preset, args.seeds = "smoke", [0]
        args.set = SMOKE + args.set
    args.out = args.out or Path(f"runs/{name}-smoke" if args.smoke else f"runs/{name}")


def run_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides plus ``--threads``, for every run of a study."""
    return args.set + ([f"threads={args.threads}"] if args.threads else [])


def write_results(args: argparse.Namespace, rows: list[dict[str, Any]], table: str) -> None:
    """``<out>/results.md`` and ``results.json`` (args + rows), then the table on stdout."""
    from nasengine.checkpoint import atomic_write_json, atomic_write_text

    atomic_write_text(args.out / "results.md", table)
    atomic_write_json(args.out / "results.json",
                      {"args": vars(args) | {"out": str(args.out)}, "rows": rows})
    print(table)


#: overrides of the ``--smoke`` runs: seconds-long, meaningful only as "it runs"
SMOKE = ["train.epochs=3", "data.train_limit=256", "supernet.channels=4", "evaluate.n_archs=20",
         "evaluate.eval_images=256", "evaluate.bootstrap=50"]
METRICS = ("kendall_tau", "spearman_rho", "precision_at_5")
#: the ranking columns every method table starts with (column title -> row key)
RANK_COLUMNS = {"Kendall tau": "kendall_tau", "Spearman rho": "spearman_rho",
                "P@top-5%": "precision_at_5", "#params tau": "params_kendall_tau"}


def ranking_row(config: Any, out: Path, pipe: Any) -> dict[str, Any]:
    """The supernet's and the #params proxy's rank metrics.

    A finished ranking is reused only if it was made under ``config`` (all but machine
    fields); one made under another protocol is refused, never mixed into a table.
    """
    from nasengine import api
    from nasengine.checkpoint import _differences
    from nasengine.config import from_dict
    from nasengine.errors import ConfigError
    from nasengine.study.config import identity

    path = out / "ranking.json"
    if path.exists():
        report = json.loads(path.read_text())
        diff = _differences(identity(from_dict(report["config"])), identity(config))
        if diff:
            raise ConfigError(f"{path} was ranked under another protocol or config ({'; '.join(diff)}); "
                              "delete it to rank again, or use another --out")
    else:
        report = api.rank(config, out, progress=False, pipe=pipe)
    row = {key: report["supernet"].get(key) for key in METRICS}
    row.update({f"params_{key}": report["params_proxy"].get(key) for key in METRICS})
    return row
