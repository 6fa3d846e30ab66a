"""Study figures beyond :mod:`nasengine.plots`: one scatter panel per method."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..metrics import kendall_tau, validate_pair


def scatter_panels(panels: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                   path: str | Path, *, title: str = "", cols: int = 4) -> Path:
    """Predicted vs true accuracy, one panel per method, each annotated with Kendall tau."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..plots import _save

    ncols = min(cols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(4.0 * ncols, 3.6 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
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
