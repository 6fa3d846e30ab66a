"""PNG figures of every report: rankings, searches, budget studies, few-shot trees.

Uses matplotlib's object API on the Agg canvas, never ``pyplot``: no global
backend is chosen, no GUI is needed, and figures are freed with their objects.
Files are written to a temporary name and renamed, so a reader never sees half a PNG.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError
from .metrics import kendall_tau, validate_pair

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: one line_plot series: (mean, std) over the shared x, or (x, mean, std); std may be None
Series = Sequence[Any]


def scatter_ranking(predicted: Sequence[float], true: Sequence[float], path: str | Path, *,
                    proxy: Sequence[float] | None = None, title: str = "",
                    labels: tuple[str, str] = ("supernet score", "true accuracy (%)"),
                    proxy_label: str = "#params (M)") -> Path:
    """Supernet score vs true accuracy, annotated with Kendall tau.

    With ``proxy``, a second panel shows the #params proxy against the same truth,
    so the figure shows at a glance whether the supernet beats the trivial baseline.
    """
    validate_pair(predicted, true)
    if proxy is not None:
        validate_pair(proxy, true, ("proxy", "true"))
    panels = {labels[0]: predicted, **({proxy_label: proxy} if proxy is not None else {})}
    return scatter_panels(panels, true, path, title=title, ylabel=labels[1])


def scatter_panels(panels: Mapping[str, Sequence[float]], true: Sequence[float],
                   path: str | Path, *, title: str = "", ylabel: str = "true accuracy (%)",
                   ncols: int = 4) -> Path:
    """One scatter of each scorer (supernet, rivals) against the same truth, with its tau,
    up to ``ncols`` panels a row."""
    if not panels:
        raise ConfigError("scatter_panels needs at least one scorer")
    tru = None
    checked = []
    for i, (label, values) in enumerate(panels.items()):
        x, tru = validate_pair(values, true if tru is None else tru,
                               ("predicted" if i == 0 else str(label), "true"))
        checked.append((x, str(label)))
    fig = _figure(ncols=min(ncols, len(checked)), nrows=-(-len(checked) // ncols))
    for ax in fig.axes[len(checked):]:
        ax.set_visible(False)
    for ax, (x, xlabel) in zip(fig.axes, checked):
        ax.scatter(x, tru, s=10, alpha=0.6, edgecolors="none")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.text(0.03, 0.97, f"Kendall τ = {kendall_tau(x, tru):+.3f}\nn = {len(tru)}",
                transform=ax.transAxes, va="top", ha="left",
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8})
        ax.grid(True, alpha=0.3)
    return _save(fig, path, title)


def method_scatter(panels: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                   path: str | Path, *, title: str = "", cols: int = 4) -> Path:
    """Predicted vs true accuracy, one panel per method (each with its own archs), each
    annotated with Kendall tau."""
    ncols = min(cols, len(panels))
    fig = blank_figure(figsize=(4.0 * ncols, 3.6 * math.ceil(len(panels) / ncols)))
    axes = fig.subplots(math.ceil(len(panels) / ncols), ncols, squeeze=False).ravel()
    for ax, (name, (pred, true)) in zip(axes, panels.items()):
        x, y = validate_pair(pred, true)
        ax.scatter(x, y, s=8, alpha=0.5, edgecolors="none")
        ax.set_title(f"{name}: τ = {kendall_tau(x, y):+.3f}", fontsize=10)
        ax.set_xlabel("supernet score (%)")
        ax.set_ylabel("true accuracy (%)")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return _save(fig, path, title)


def tree_plot(nodes: Sequence[Mapping[str, Any]], path: str | Path, *,
              matrices: Sequence[tuple[str, np.ndarray, Sequence[Any]]] = (),
              title: str = "") -> Path:
    """A tree drawn top-down above one heat map per matrix (title, values in [-1, 1],
    tick labels). A node is ``{"id", "parent", "children", "label"}``; leaves (no
    children) are shaded."""
    width = max(6.0, 1.9 * sum(not n["children"] for n in nodes), 3.2 * len(matrices))
    fig = blank_figure(figsize=(width, 7.5 if matrices else 4.0))
    grid = fig.add_gridspec(2 if matrices else 1, max(1, len(matrices)))
    _draw_tree(fig.add_subplot(grid[0, :]), nodes)
    for i, (name, matrix, ticks) in enumerate(matrices):
        ax = fig.add_subplot(grid[1, i])
        image = ax.imshow(np.asarray(matrix), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(ticks)), [str(c) for c in ticks], rotation=60, fontsize=6,
                      ha="right")
        ax.set_yticks(range(len(ticks)), [str(c) for c in ticks], fontsize=6)
        ax.set_title(name, fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.7)
    return _save(fig, path, title, dpi=110)


def _tree_layout(nodes: Sequence[Mapping[str, Any]]) -> dict[int, tuple[float, float]]:
    """Leaves spaced evenly left to right in depth-first order; parents centred above."""
    pos: dict[int, tuple[float, float]] = {}
    next_x = [0.0]

    def place(node_id: int, depth: int) -> float:
        children = nodes[node_id]["children"]
        if not children:
            x = next_x[0]
            next_x[0] += 1.0
        else:
            x = float(np.mean([place(c, depth + 1) for c in children]))
        pos[node_id] = (x, -float(depth))
        return x

    place(0, 0)
    return pos


def _draw_tree(ax: Any, nodes: Sequence[Mapping[str, Any]]) -> None:
    pos = _tree_layout(nodes)
    for node in nodes:
        if node["id"] not in pos:
            continue
        x, y = pos[node["id"]]
        if node["parent"] is not None:
            px, py = pos[node["parent"]]
            ax.plot([px, x], [py, y], color="0.6", zorder=1)
        ax.text(x, y, node["label"], ha="center", va="center", fontsize=7, zorder=2,
                bbox={"boxstyle": "round",
                      "facecolor": "white" if node["children"] else "#dbe9f6"})
    xs, ys = zip(*pos.values())
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()


def line_plot(x: Sequence[float] | None, series: Mapping[str, Series], path: str | Path, *,
              xlabel: str = "", ylabel: str = "", title: str = "",
              reference: Mapping[str, float] | None = None,
              point_labels: Mapping[str, Sequence[str]] | None = None) -> Path:
    """Budget curves: one line with ±std error bars per series.

    Each value of ``series`` is ``(mean, std)`` over the shared ``x``, or
    ``(x, mean, std)`` for a series with its own x (then ``x`` may be None).
    ``reference`` draws dashed horizontal lines (e.g. the #params proxy's tau);
    ``point_labels`` names the points of a series (e.g. the protocol behind each budget).
    """
    if not series:
        raise ConfigError("line_plot needs at least one series")
    fig = _figure(ncols=1)
    ax = fig.axes[0]
    for name, value in series.items():
        xs, mean, std = _series_arrays(name, x, value)
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=str(name))
        for text, xy in zip((point_labels or {}).get(name, ()), zip(xs, mean)):
            ax.annotate(text, xy, textcoords="offset points", xytext=(4, -10), fontsize=7)
    for name, level in (reference or {}).items():
        ax.axhline(level, linestyle="--", color="gray", label=str(name))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return _save(fig, path, title)


def seed_plot(groups: Mapping[str, Sequence[float]], path: str | Path, *, ylabel: str = "",
              title: str = "", reference: Mapping[str, float] | None = None) -> Path:
    """Method comparison over seeds: every seed as a dot, the mean ± std as a bar.

    Seeds are few (3 is typical) and their spread is the story, so each is drawn.
    """
    empty = [name for name, values in groups.items() if len(values) == 0]
    if not groups or empty:
        raise ConfigError(f"seed_plot needs at least one value per group; empty: {empty or 'all'}")
    fig = _figure(ncols=1)
    ax = fig.axes[0]
    for i, (name, values) in enumerate(groups.items()):
        v = np.asarray(values, dtype=np.float64)
        ax.bar(i, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0.0, capsize=4, alpha=0.35,
               color=f"C{i}")
        ax.scatter(np.full(len(v), i, dtype=np.float64), v, color=f"C{i}", zorder=3, s=18)
    for name, level in (reference or {}).items():
        ax.axhline(level, linestyle="--", color="gray", label=str(name))
    ax.set_xticks(range(len(groups)), [str(n) for n in groups], rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    if reference:
        ax.legend()
    return _save(fig, path, title)


def front_plot(fronts: Mapping[str, np.ndarray], path: str | Path, *,
               cloud: np.ndarray | None = None, xlabel: str = "cost",
               ylabel: str = "accuracy (%)", title: str = "") -> Path:
    """Pareto fronts as steps, (cost, accuracy) per point, over an optional point cloud
    (e.g. every trial): where a search's trade-off curve lies against the true one."""
    fig = _figure(ncols=1)
    ax = fig.axes[0]
    if cloud is not None and len(cloud):
        ax.scatter(cloud[:, 0], cloud[:, 1], s=8, alpha=0.3, color="grey", edgecolors="none",
                   label="trials")
    for name, points in fronts.items():
        order = np.argsort(points[:, 0])
        ax.step(points[order, 0], points[order, 1], where="post", marker="o", ms=4, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path, title)


def _series_arrays(name: str, x: Sequence[float] | None, value: Series
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check one series and return its x, mean and std (None: no error bars)."""
    if len(value) not in (2, 3):
        raise ConfigError(f"series {name!r} must be (mean, std) or (x, mean, std), "
                          f"got {len(value)} items")
    xs, mean, std = value if len(value) == 3 else (x, *value)
    if xs is None:
        raise ConfigError(f"series {name!r} has no x: pass x or give it as (x, mean, std)")
    arrays = [np.asarray(a, dtype=np.float64) for a in (xs, mean)]
    if std is not None:
        arrays.append(np.asarray(std, dtype=np.float64))
    if any(a.shape != arrays[0].shape or a.ndim != 1 for a in arrays):
        raise ConfigError(f"series {name!r}: x, mean and std must be 1-D and equally long, "
                          f"got lengths {[a.shape for a in arrays]}")
    return arrays[0], arrays[1], arrays[2] if std is not None else None


def _figure(ncols: int, nrows: int = 1, size: tuple[float, float] = (5.0, 4.2)) -> Figure:
    """A figure of ``nrows x ncols`` panels of ``size`` inches each."""
    fig = blank_figure(figsize=(size[0] * ncols, size[1] * nrows))
    fig.subplots(nrows, ncols, squeeze=False)
    return fig


def blank_figure(figsize: tuple[float, float]) -> Figure:
    """An empty figure on its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path, title: str, dpi: int = 120) -> Path:
    from .checkpoint import atomic_write

    if title:
        fig.suptitle(title)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))


# -- samplers: their distributions over training ----------------------------------------
def pada_distributions(log: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """PA&DA per epoch: path probabilities (mean over decisions with the same choices) and
    the data distribution's spread (effective sample size and entropy, as fractions of uniform)."""
    left, right = _figure(ncols=2, size=(5.0, 3.5)).axes
    fig = left.figure
    epochs = [r["epoch"] for r in log]
    groups = _decision_groups(log[0]["path"])
    for labels in groups:
        for choice in log[0]["path"][labels[0]]:
            name = choice if len(groups) == 1 else f"{labels[0]}{'..' * (len(labels) > 1)}={choice}"
            left.plot(epochs, [float(np.mean([r["path"][d][choice] for d in labels]))
                               for r in log], marker="o", label=name)
    left.set(xlabel="epoch", ylabel="probability (mean over decisions)", title="paths")
    left.legend(fontsize=7)
    for key in ("ess_fraction", "entropy_ratio"):
        right.plot(epochs, [r["data"][key] if r["data"] else 1.0 for r in log], marker="o",
                   label=key)
    right.set(xlabel="epoch", ylabel="fraction of uniform", title="data")
    right.ticklabel_format(axis="y", useOffset=False)
    right.legend(fontsize=7)
    for axis in (left, right):
        axis.xaxis.get_major_locator().set_params(integer=True)
    return _save(fig, path, "")


def _decision_groups(path: Mapping[str, Mapping[str, float]]) -> list[list[str]]:
    """Decisions grouped by their choice set, so only like choices are averaged together."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for label, probs in path.items():
        groups.setdefault(tuple(probs), []).append(label)
    return list(groups.values())


def shiftnas_regions(log: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """ShiftNAS per epoch: region probabilities, steps per region and performance variation."""
    import math

    epochs = [r["epoch"] for r in log]
    panels = (("probs", "probability after the epoch's shift"),
              ("steps_fraction", "fraction of the epoch's steps"),
              ("variation", "loss spread (variation)"))
    fig = _figure(ncols=3, size=(13 / 3, 3.5))
    for axis, (key, title) in zip(fig.axes, panels):
        for b, prior in enumerate(log[0]["prior"]):
            line, = axis.plot(epochs, [r[key][b] if r[key] and r[key][b] is not None
                                       else math.nan for r in log], marker="o", label=f"region {b}")
            if key != "variation":  # dotted: what uniform sampling gives the region
                axis.axhline(prior, color=line.get_color(), linestyle=":", linewidth=1)
        axis.set(xlabel="epoch", title=title)
        axis.xaxis.get_major_locator().set_params(integer=True)
    fig.axes[0].legend(fontsize=7, title="dotted: uniform's share", title_fontsize=7)
    fig.suptitle(f"ShiftNAS regions by {log[0]['metric']} (low -> high)", fontsize=9)
    return _save(fig, path, "")


def enas_controller(records: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """ENAS per epoch: reward, baseline and policy entropy (and the buffer's reconstruction loss)."""
    left, right = _figure(ncols=2, size=(5.0, 3.5)).axes
    epochs = [r["epoch"] + 1 for r in records]
    left.plot(epochs, [r["reward"] for r in records], marker="o", label="mean reward (top-1)")
    left.plot(epochs, [r["baseline"] for r in records], marker=".", label="baseline")
    left.set(xlabel="epoch", ylabel="fraction", title="controller reward")
    right.plot(epochs, [r["entropy"] for r in records], marker="o", label="entropy (nats)")
    sup = [(e, r["sup_loss"]) for e, r in zip(epochs, records) if r.get("sup_loss") is not None]
    if sup:
        right.plot(*zip(*sup), marker="s", label="reconstruction NLL")
    right.set(xlabel="epoch", title="policy")
    for axis in (left, right):
        axis.legend(fontsize=7)
        axis.xaxis.get_major_locator().set_params(integer=True)
    return _save(left.figure, path, "")


def enas_hidden_states(results: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Per analysis: the controller's state matrix as a heat map, and state vs Hamming distance."""
    import itertools

    fig = _figure(ncols=len(results), nrows=2, size=(5.0, 3.5))
    axes = np.array(fig.axes).reshape(2, len(results))
    for col, (name, r) in enumerate(results.items()):
        states, vectors = np.array(r["states"]), np.array(r["vectors"])
        order = np.lexsort(vectors.T[::-1])
        axes[0, col].imshow(states[order], aspect="auto", cmap="RdBu_r")
        axes[0, col].set(title=f"{name}: hidden states ({r['distinct']} distinct archs)",
                         xlabel="unit", ylabel="arch (sorted)")
        pairs = list(itertools.combinations(range(len(states)), 2))
        d_state = [np.linalg.norm(states[i] - states[j]) for i, j in pairs]
        hamming = [int((vectors[i] != vectors[j]).sum()) for i, j in pairs]
        axes[1, col].scatter(hamming, d_state, s=3, alpha=0.3)
        rho = r.get("spearman_hamming")
        axes[1, col].set(xlabel="Hamming distance", ylabel="hidden-state L2 distance",
                         title=f"Spearman {rho:+.2f}" if rho is not None else "Spearman n/a")
    return _save(fig, path, "")
