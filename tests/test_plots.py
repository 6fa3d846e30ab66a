"""Plots: valid PNGs written atomically, and clear errors for malformed input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nasengine.errors import ConfigError
from nasengine.plots import line_plot, method_scatter, scatter_ranking, tree_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_MAGIC) and len(data) > 5000


def _scores(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    true = rng.uniform(60, 94, size=n)
    return true + rng.normal(scale=5, size=n), true


def test_scatter_with_and_without_proxy(tmp_path):
    pred, true = _scores()
    one = scatter_ranking(pred, true, tmp_path / "one.png", title="supernet")
    two = scatter_ranking(pred, true, tmp_path / "sub" / "two.png", proxy=true[::-1].copy(),
                          labels=("score", "acc"))
    assert one == tmp_path / "one.png" and _is_png(one) and _is_png(two)
    assert two.stat().st_size > one.stat().st_size  # two panels
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.png", "sub"]  # no temp files


def test_scatter_replaces_an_existing_file(tmp_path):
    target = tmp_path / "r.png"
    target.write_text("old")
    scatter_ranking(*_scores(), target)
    assert _is_png(target)


def test_scatter_rejects_mismatched_input_and_writes_nothing(tmp_path):
    pred, true = _scores()
    with pytest.raises(ConfigError, match="predicted has 59 values but true has 60"):
        scatter_ranking(pred[:-1], true, tmp_path / "x.png")
    with pytest.raises(ConfigError, match="proxy has 3 values"):
        scatter_ranking(pred, true, tmp_path / "x.png", proxy=[1, 2, 3])
    assert list(tmp_path.iterdir()) == []


def test_line_plot_shared_and_own_x(tmp_path):
    path = line_plot([1, 2, 4], {"batch": ([0.2, 0.3, 0.4], [0.02, 0.01, 0.03]),
                                 "recal": ([0.25, 0.35, 0.5], None)},
                     tmp_path / "curve.png", xlabel="minutes", ylabel="Kendall tau", title="t")
    assert _is_png(path)
    own = line_plot(None, {"a": ([1, 3], [0.1, 0.2], [0.0, 0.05]), "b": ([2], [0.3], [0.1])},
                    tmp_path / "own.png")
    assert _is_png(own)


@pytest.mark.parametrize("x,series,message", [
    ([1, 2], {}, "at least one series"),
    ([1, 2], {"a": ([0.1, 0.2, 0.3], [0, 0, 0])}, "equally long"),
    ([1, 2], {"a": ([0.1],)}, r"\(mean, std\) or \(x, mean, std\)"),
    (None, {"a": ([0.1], [0.0])}, "has no x"),
])
def test_line_plot_bad_input(tmp_path, x, series, message):
    with pytest.raises(ConfigError, match=message):
        line_plot(x, series, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_line_plot_draws_reference_lines_and_point_labels(tmp_path):
    series = {"recal": ([4.4, 7.8], [0.02, 0.32], [0.1, 0.0])}
    path = line_plot(None, series, tmp_path / "curve.png", reference={"#params": 0.57},
                     point_labels={"recal": ["e6", "e12"]})
    assert path.stat().st_size > 0


def test_seed_plot_draws_every_seed_and_rejects_empty_groups(tmp_path):
    from nasengine.plots import seed_plot

    out = seed_plot({"uniform": [0.3, 0.4, 0.2], "pada": [0.63]}, tmp_path / "m.png",
                    ylabel="tau", reference={"#params": 0.57})
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match="empty"):
        seed_plot({"uniform": []}, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_method_scatter_and_tree_plot_write_pngs(tmp_path):
    pred, true = _scores()
    panels = {"uniform": (pred, true), "pada": (true, true)}
    assert _is_png(method_scatter(panels, tmp_path / "methods.png", title="two methods"))
    nodes = [{"id": 0, "parent": None, "children": [1, 2], "label": "#0 root"},
             {"id": 1, "parent": 0, "children": [], "label": "#1"},
             {"id": 2, "parent": 0, "children": [], "label": "#2"}]
    matrix = ("#0: edge, cut 0.1", np.eye(3), ["a", "b", "c"])
    assert _is_png(tree_plot(nodes, tmp_path / "tree.png", matrices=[matrix], title="tree"))
    with pytest.raises(ConfigError, match="predicted has 60 values but true has 3"):
        method_scatter({"bad": (pred, true[:3])}, tmp_path / "bad.png")
