"""The hidden-state diagnostic of Adam & Lorraine on the ENAS controller."""
import pytest
import torch

from nasengine.errors import ConfigError
from nasengine.samplers import EnasSampler
from nasengine.plots import enas_hidden_states
from nasengine.samplers.hidden import _graph_edit_distances, hidden_state_analysis
from search_spaces.nb201 import NB201Space
from search_spaces.nb201.graph import cell_graph

SPACE = NB201Space()
A = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def test_graph_edit_distance_counts_op_edits_between_cells():
    same, one_op = SPACE.parse(A), SPACE.parse(A.replace("avg_pool_3x3~1", "nor_conv_1x1~1"))
    dropped = SPACE.parse(A.replace("skip_connect~0", "none~0"))
    graphs = [cell_graph(a) for a in (same, same, one_op, dropped)]
    assert _graph_edit_distances(graphs, [(0, 1), (0, 2), (0, 3)]) == [0.0, 1.0, 1.0]


def test_the_graph_edit_shortcut_equals_networkx():
    import random

    import networkx as nx

    rng = random.Random(0)
    graphs = [cell_graph(SPACE.sample(rng)) for _ in range(24)]
    pairs = [(i, i + 1) for i in range(0, 24, 2)]
    ours = _graph_edit_distances(graphs, pairs)  # also labels the nodes' roles
    exact = [nx.graph_edit_distance(graphs[i], graphs[j],
                                    node_match=lambda a, b: a["role"] == b["role"],
                                    edge_match=lambda a, b: a["op"] == b["op"]) for i, j in pairs]
    assert ours == exact and len(set(ours)) > 2


def test_a_controller_that_ignores_its_choices_has_identical_states():
    """The paper's failure mode, forced: with zero embeddings every arch ends in one state."""
    sampler = EnasSampler(SPACE, seed=0)
    with torch.no_grad():
        for table in sampler.controller.embed:
            table.weight.zero_()
    result = hidden_state_analysis(sampler, 20, source="uniform")
    assert result["hidden_spread"] == pytest.approx(0.0, abs=1e-9)
    assert result["spearman_hamming"] is None  # no variation to correlate


def test_analysis_reports_both_distances_over_all_pairs(tmp_path):
    sampler = EnasSampler(SPACE, seed=1)
    results = {source: hidden_state_analysis(sampler, 16, source=source, graph=cell_graph)
               for source in ("controller", "uniform")}
    for r in results.values():
        assert r["n"] == 16 and len(r["states"]) == 16 and len(r["states"][0]) == 32
        assert -1 <= r["spearman_hamming"] <= 1 and -1 <= r["spearman_graph_edit"] <= 1
        assert r["hidden_spread"] > 0
    # an LSTM that reads the arch: states of archs far apart in Hamming are farther apart
    assert results["uniform"]["spearman_hamming"] > 0
    enas_hidden_states(results, tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0


def test_bad_arguments_name_the_fix():
    sampler = EnasSampler(SPACE)
    with pytest.raises(ConfigError, match="controller"):
        hidden_state_analysis(sampler, 10, source="buffer")
    with pytest.raises(ConfigError, match="at least 3"):
        hidden_state_analysis(sampler, 2)
