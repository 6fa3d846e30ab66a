"""Gradient matching on a toy whose gradient agreement is known, and on tiny NB201."""
from __future__ import annotations

import random

import pytest
import torch

from nasengine.errors import ConfigError
from nasengine.fewshot import GradientMatchingSplit, shared_parameters, similarities
from nasengine.fewshot.gradients import decision_parameters


def test_shared_parameters_exclude_only_the_decisions_own_choices(toy):
    own = {id(toy.ops[v].scale) for v in ("a0", "a1", "a2", "a3")}
    assert decision_parameters(toy, "a") == own
    shared = {id(p) for p in shared_parameters(toy, "a")}
    assert shared == {id(p) for p in toy.parameters()} - own
    assert [p is toy.w for p in shared_parameters(toy, "b", ["w"])] == [True]
    with pytest.raises(ConfigError, match="no shared parameter matches"):
        shared_parameters(toy, "a", ["nothing*"])


@pytest.mark.parametrize("average", ["gradients", "similarities"])
def test_similarities_see_which_choices_agree(toy, toy_batches, average):
    sims = similarities(toy, ["a", "b"], toy_batches, random.Random(0), average=average)
    a, b = sims["a"], sims["b"]
    assert torch.allclose(a, a.T) and torch.allclose(a.diagonal(), torch.ones(4, dtype=a.dtype))
    assert a[0, 1] > 0.9 and a[2, 3] > 0.9 and a[0, 2] < -0.9 and a[1, 3] < -0.9
    assert b.min() > 0.95  # b's choices barely change the shared gradient


@pytest.mark.parametrize("partition", ["balanced", "stoer_wagner", "spectral"])
def test_gm_splits_the_decision_that_disagrees_most(toy, toy_batches, partition):
    proposal = GradientMatchingSplit(partition, batches=len(toy_batches)).propose(
        toy, ["b", "a"], toy_batches, random.Random(0))
    assert proposal.decision == "a"
    assert proposal.groups == [("a0", "a1"), ("a2", "a3")]
    assert proposal.scores["a"]["cut"] < 0.1 < 2.5 < proposal.scores["b"]["cut"]


def test_measuring_leaves_weights_buffers_and_grads_untouched(nb201_supernet):
    net = nb201_supernet
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    sims = similarities(net, ["1<-0", "3<-2"], [(x, y)], random.Random(0))
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in net.parameters())
    for sim in sims.values():
        assert sim.shape == (5, 5) and torch.allclose(sim, sim.T)
        assert float(sim.min()) >= -1 and float(sim.max()) <= 1


def test_gm_options_are_checked():
    with pytest.raises(ConfigError, match="unknown partitioner"):
        GradientMatchingSplit(partition="kmeans")
    with pytest.raises(ConfigError, match="batches must be an integer >= 1"):
        GradientMatchingSplit(batches=0)
    with pytest.raises(ConfigError, match="average must be one of"):
        GradientMatchingSplit(average="median")
    with pytest.raises(ConfigError, match="non-empty list"):
        GradientMatchingSplit(params="network.*")


def test_gm_on_a_supernet_without_choice_modules_is_refused_before_training():
    from nasengine.config import FewShotConfig
    from nasengine.fewshot import FewShotSupernet
    from nasengine.families import get_family

    macro = get_family("macro").build_supernet("entangled", channels=2)  # names no modules
    with pytest.raises(ConfigError, match="choice_modules\\(\\) names none.*exhaustive"):
        FewShotSupernet.from_config(macro, FewShotConfig(strategy="gm"), epochs=3)
    assert FewShotSupernet.from_config(macro, FewShotConfig(strategy="exhaustive"), epochs=3)
