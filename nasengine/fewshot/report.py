"""Inspection of a few-shot tree: which decision each split used, the groups, the scores.

``write_tree`` puts three files in the run folder: ``fewshot_tree.json`` (everything),
``fewshot_tree.txt`` (the tree drawn in text, with the cut of every candidate
decision) and ``fewshot_tree.png`` (the tree, and the similarity matrix behind each
gradient-matching split).
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checkpoint import atomic_write, atomic_write_json, atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .tree import FewShotSupernet

STEM = "fewshot_tree"


def write_tree(tree: FewShotSupernet, out_dir: Path) -> list[Path]:
    """Write the JSON, text and PNG views of ``tree`` into ``out_dir``."""
    data = tree.describe()
    return [atomic_write_json(out_dir / f"{STEM}.json", data),
            atomic_write_text(out_dir / f"{STEM}.txt", tree_text(data)),
            tree_figure(data, out_dir / f"{STEM}.png")]


def _values(values: list[Any]) -> str:
    return "{" + ", ".join(map(str, values)) + "}"


def _region(node: dict[str, Any], nodes: list[dict[str, Any]]) -> str:
    if node["parent"] is None:
        return "whole space"
    decision = nodes[node["parent"]]["split"]["decision"]
    return f"{decision} in {_values(node['restriction'][decision])}"


def tree_text(data: dict[str, Any]) -> str:
    """The tree drawn with box characters; every split lists the cut of each candidate."""
    strategy = data["strategy"] or {"strategy": "manual"}
    lines = [f"few-shot tree: {len(data['leaves'])} leaves over {data['space_size']} archs; "
             f"strategy {strategy}; splits after epochs {data['split_epochs']}"]
    _render(data["nodes"], 0, "", "", lines)
    return "\n".join(lines) + "\n"


def _render(nodes: list[dict[str, Any]], node_id: int, head: str, indent: str,
            lines: list[str]) -> None:
    node = nodes[node_id]
    lines.append(f"{head}#{node['id']} {_region(node, nodes)}: {node['size']} archs"
                 + ("" if node["split"] else "  [leaf]"))
    lines.extend(f"{indent}  note: {note}" for note in node.get("notes", []))
    split = node["split"]
    if split is None:
        return
    where = f" after epoch {split['epoch']}" if "epoch" in split else ""
    lines.append(f"{indent}  split on {split['decision']}{where}: "
                 + " | ".join(_values(g) for g in split["groups"])
                 + (f"  ({split['seconds']:.1f} s)" if "seconds" in split else ""))
    cuts = {d: s["cut"] for d, s in (split.get("scores") or {}).items()}
    if cuts:
        ranked = sorted(cuts.items(), key=lambda kv: kv[1])
        lines.append(f"{indent}  cut per decision (lowest splits): "
                     + ", ".join(f"{d} {c:.4f}" for d, c in ranked))
    children = split["children"]
    for i, child in enumerate(children):
        last = i == len(children) - 1
        _render(nodes, child, indent + ("└── " if last else "├── "),
                indent + ("    " if last else "│   "), lines)


def _layout(nodes: list[dict[str, Any]]) -> dict[int, tuple[float, float]]:
    """Leaves spaced evenly left to right in depth-first order; parents centred above."""
    pos: dict[int, tuple[float, float]] = {}
    next_x = [0.0]

    def place(node_id: int, depth: int) -> float:
        split = nodes[node_id]["split"]
        if split is None:
            x = next_x[0]
            next_x[0] += 1.0
        else:
            x = float(np.mean([place(c, depth + 1) for c in split["children"]]))
        pos[node_id] = (x, -float(depth))
        return x

    place(0, 0)
    return pos


def tree_figure(data: dict[str, Any], path: Path) -> Path:
    """The tree on top; below it, the similarity matrix of each gradient-matching split."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    nodes = data["nodes"]
    splits = [n for n in nodes if n["split"] and n["split"].get("scores")]
    width = max(6.0, 1.9 * len(data["leaves"]), 3.2 * len(splits))
    fig = Figure(figsize=(width, 7.5 if splits else 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2 if splits else 1, max(1, len(splits)))
    _draw_tree(fig.add_subplot(grid[0, :]), nodes)
    for i, node in enumerate(splits):
        _draw_similarity(fig.add_subplot(grid[1, i]), node)
    fig.suptitle(f"few-shot tree ({(data['strategy'] or {}).get('strategy', 'manual')}), "
                 f"{len(data['leaves'])} leaves")
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))


def _draw_tree(ax: Axes, nodes: list[dict[str, Any]]) -> None:
    pos = _layout(nodes)
    for node in nodes:
        if node["id"] not in pos:
            continue
        x, y = pos[node["id"]]
        if node["parent"] is not None:
            px, py = pos[node["parent"]]
            ax.plot([px, x], [py, y], color="0.6", zorder=1)
        label = f"#{node['id']}  {node['size']} archs"
        if node["parent"] is not None:
            label = textwrap.fill(_region(node, nodes), 24) + "\n" + label
        if node["split"]:
            label += f"\nsplit on {node['split']['decision']}"
        ax.text(x, y, label, ha="center", va="center", fontsize=7, zorder=2,
                bbox={"boxstyle": "round", "facecolor": "white" if node["split"] else "#dbe9f6"})
    xs, ys = zip(*pos.values())
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()


def _draw_similarity(ax: Axes, node: dict[str, Any]) -> None:
    split = node["split"]
    score = split["scores"][split["decision"]]
    sim = np.asarray(score["similarity"])
    image = ax.imshow(sim, vmin=-1, vmax=1, cmap="RdBu_r")
    ticks = range(len(score["choices"]))
    ax.set_xticks(ticks, [str(c) for c in score["choices"]], rotation=60, fontsize=6, ha="right")
    ax.set_yticks(ticks, [str(c) for c in score["choices"]], fontsize=6)
    ax.set_title(f"#{node['id']}: {split['decision']}, cut {score['cut']:.3f}", fontsize=8)
    ax.figure.colorbar(image, ax=ax, shrink=0.7)
