"""Cosine similarity and two-way graph cuts on hand-made matrices with known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nasengine.errors import ConfigError
from nasengine.fewshot import PARTITIONERS, cosine_matrix, partition
from nasengine.fewshot.partition import cut_value

# choices 0, 1, 2 agree with each other, 3 and 4 with each other, the two blocks disagree
BLOCKS = np.array([[1.0, 0.9, 0.8, 0.1, 0.0],
                   [0.9, 1.0, 0.9, 0.0, 0.1],
                   [0.8, 0.9, 1.0, 0.2, 0.1],
                   [0.1, 0.0, 0.2, 1.0, 0.9],
                   [0.0, 0.1, 0.1, 0.9, 1.0]])


def test_cosine_matrix_matches_hand_computation():
    vectors = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-3.0, 0.0], [0.0, 0.0]])
    sim = cosine_matrix(vectors)
    r = 1 / np.sqrt(2)
    expected = np.array([[1, r, 0, -1, 0], [r, 1, r, -r, 0], [0, r, 1, 0, 0],
                         [-1, -r, 0, 1, 0], [0, 0, 0, 0, 1]])
    assert np.allclose(sim.numpy(), expected)


@pytest.mark.parametrize("name", ["stoer_wagner", "spectral", "balanced"])
def test_every_partitioner_finds_the_two_blocks(name):
    result = partition(name, BLOCKS)
    assert result.groups == ((0, 1, 2), (3, 4))
    assert result.cut == pytest.approx(0.1 + 0.0 + 0.0 + 0.1 + 0.2 + 0.1)


def test_cosine_then_cut_recovers_groups_of_aligned_gradients():
    """Gradients of choices 1 and 3 point one way, 0, 2 and 4 the other way."""
    rng = np.random.default_rng(0)
    up, down = np.array([1.0, 0, 0, 0]), np.array([-1.0, 0, 0, 0])
    rows = [down, up, down, up, down]
    vectors = torch.tensor(np.stack([r + 0.1 * rng.standard_normal(4) for r in rows]))
    weights = (1 + cosine_matrix(vectors).numpy()) / 2
    for name in PARTITIONERS.names():
        assert partition(name, weights).groups == ((0, 2, 4), (1, 3)), name


def test_min_cut_isolates_an_outlier_but_balanced_keeps_sizes():
    weights = np.full((5, 5), 0.9)
    weights[4, :] = weights[:, 4] = 0.2
    assert partition("stoer_wagner", weights).groups == ((0, 1, 2, 3), (4,))
    balanced = partition("balanced", weights)
    assert sorted(map(len, balanced.groups)) == [2, 3] and 4 in balanced.groups[1]
    assert balanced.cut == pytest.approx(cut_value(weights, balanced.groups[0]))


def test_bad_weights_and_names_are_clear_errors():
    with pytest.raises(ConfigError, match="one choice cannot be split"):
        partition("stoer_wagner", np.ones((1, 1)))
    with pytest.raises(ConfigError, match="non-negative"):
        partition("spectral", BLOCKS - 0.5)
    with pytest.raises(ConfigError, match="unknown partitioner 'kmeans'; known: balanced, spec"):
        partition("kmeans", BLOCKS)
