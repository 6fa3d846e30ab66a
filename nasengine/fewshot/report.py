"""Inspection of a few-shot tree: which decision each split used, the groups, the scores.

``write_tree`` puts three files in the run folder: ``fewshot_tree.json`` (everything),
``fewshot_tree.txt`` (the tree drawn in text, with the cut of every candidate
decision) and ``fewshot_tree.png`` (the tree, and the similarity matrix behind each
gradient-matching split).
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import atomic_write_json, atomic_write_text

STEM = "fewshot_tree"


def write_tree(data: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the JSON, text and PNG views of a tree's data (its ``tree_data()``) into
    ``out_dir``."""
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


def tree_figure(data: dict[str, Any], path: Path) -> Path:
    """The tree on top; below it, the similarity matrix of each gradient-matching split."""
    from ..plots import tree_plot

    nodes = data["nodes"]
    matrices = []
    for node in nodes:
        split = node["split"]
        if split and split.get("scores"):
            score = split["scores"][split["decision"]]
            matrices.append((f"#{node['id']}: {split['decision']}, cut {score['cut']:.3f}",
                             np.asarray(score["similarity"]), score["choices"]))
    drawn = [{"id": n["id"], "parent": n["parent"], "label": _label(n, nodes),
              "children": n["split"]["children"] if n["split"] else []} for n in nodes]
    return tree_plot(drawn, path, matrices=matrices,
                     title=f"few-shot tree ({(data['strategy'] or {}).get('strategy', 'manual')}), "
                     f"{len(data['leaves'])} leaves")


def _label(node: dict[str, Any], nodes: list[dict[str, Any]]) -> str:
    label = f"#{node['id']}  {node['size']} archs"
    if node["parent"] is not None:
        label = textwrap.fill(_region(node, nodes), 24) + "\n" + label
    if node["split"]:
        label += f"\nsplit on {node['split']['decision']}"
    return label
