"""The tree of sub-supernets: weight inheritance, routing, state round trip, errors."""
from __future__ import annotations

import copy
from collections import Counter

import pytest
import torch

from nasengine.config import FewShotConfig
from nasengine.errors import CheckpointError, ConfigError, SpaceError
from nasengine.fewshot import FewShotSupernet, create_strategy, tree_text

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def grown_tree(root) -> FewShotSupernet:
    """Exhaustive on 1<-0, then a 2 | 3 split of 3<-2 in two of the five children."""
    tree = FewShotSupernet(root)
    tree.split(0, "1<-0", [(op,) for op in OPS])
    tree.split(1, "3<-2", [OPS[:2], OPS[2:]])
    tree.split(4, "3<-2", [OPS[1::2], OPS[0::2]])
    return tree


def test_children_start_from_the_parents_weights_and_then_train_apart(nb201_supernet):
    tree = FewShotSupernet(nb201_supernet)
    parent = {k: v.clone() for k, v in nb201_supernet.state_dict().items()}
    lineage = tree.split(0, "2<-1", [OPS[:2], OPS[2:]])
    left, right = tree.leaves["1"], tree.leaves["2"]
    for child in (left, right):
        state = child.state_dict()
        assert state.keys() == parent.keys()
        assert all(torch.equal(state[k], parent[k]) for k in parent)
    assert list(left.space.decisions["2<-1"].values) == list(OPS[:2])
    assert list(right.space.decisions["2<-1"].values) == list(OPS[2:])
    for child in (left, right):  # lineage: each child parameter -> the parent parameter
        for (name, p), (_, q) in zip(child.named_parameters(), nb201_supernet.named_parameters()):
            assert lineage[p] is q and p is not q
    with torch.no_grad():
        next(left.parameters()).add_(1.0)  # copies, not views: the sibling is unchanged
    assert torch.equal(next(right.parameters()), next(iter(parent.values())))


def test_every_nb201_arch_routes_to_exactly_one_leaf(nb201_supernet):
    tree = grown_tree(nb201_supernet)
    spaces = {i: tree.leaves[str(i)].space for i in tree.leaf_ids}
    assert sum(len(s) for s in spaces.values()) == 15_625
    hits = Counter()
    for arch in tree.space.enumerate():
        owners = [i for i, s in spaces.items() if s.contains(arch)]
        assert owners == [tree.route(arch)]
        hits[owners[0]] += 1
    assert hits == {i: len(s) for i, s in spaces.items()}
    assert len(hits) == 7


def test_forward_uses_the_routed_leaf_and_canonical_stays_in_it(nb201_supernet):
    tree = grown_tree(nb201_supernet).eval()
    x = torch.randn(2, 3, 32, 32)
    dead = {"1<-0": "nor_conv_3x3", "2<-0": "skip_connect", "2<-1": "nor_conv_1x1",
            "3<-0": "none", "3<-1": "none", "3<-2": "none"}  # only node 2 feeds nothing
    with torch.no_grad():
        for arch in (dead, {**dead, "3<-2": "skip_connect"}):
            assert torch.equal(tree(x, arch), tree.leaf(arch)(x, arch))
            assert tree.route(tree.canonical(arch)) == tree.route(arch)
    # the all-none form of ``dead`` lives in another leaf (1<-0 = none): keep the arch itself
    assert tree.canonical(dead) == dead
    # node 1 is never fed, so 2<-1 is dead; setting it to none stays in the same leaf
    unfed = {"1<-0": "none", "2<-0": "skip_connect", "2<-1": "nor_conv_3x3", "3<-0": "none",
             "3<-1": "none", "3<-2": "skip_connect"}
    assert tree.canonical(unfed) == {**unfed, "2<-1": "none"}


def test_state_dict_rebuilds_the_tree_before_loading_weights(nb201_supernet):
    tree = grown_tree(copy.deepcopy(nb201_supernet))
    with torch.no_grad():
        for p in tree.parameters():
            p.add_(torch.rand_like(p))
    fresh = FewShotSupernet(nb201_supernet)
    fresh.load_state_dict(tree.state_dict())
    assert fresh.nodes == tree.nodes and fresh.leaf_ids == tree.leaf_ids
    a, b = tree.state_dict(), fresh.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if k != "_extra_state")
    assert [len(fresh.leaves[str(i)].space) for i in fresh.leaf_ids] == \
        [len(tree.leaves[str(i)].space) for i in tree.leaf_ids]
    assert "split on 1<-0" in tree_text(fresh.tree_data())
    with pytest.raises(CheckpointError, match="one-shot supernet"):
        fresh.load_state_dict(nb201_supernet.state_dict())


def test_bad_splits_are_clear_errors(nb201_supernet):
    tree = FewShotSupernet(nb201_supernet)
    tree.split(0, "1<-0", [(op,) for op in OPS])
    with pytest.raises(SpaceError, match="single choice 'none'.*cannot be split"):
        tree.split(1, "1<-0", [("none",), ()])
    with pytest.raises(SpaceError, match="already split"):
        tree.split(0, "2<-0", [OPS[:2], OPS[2:]])
    with pytest.raises(SpaceError, match="disjoint groups covering all"):
        tree.split(2, "2<-0", [OPS[:2], OPS[1:]])
    with pytest.raises(SpaceError, match="unknown decision 'bogus'"):
        FewShotSupernet(nb201_supernet, decisions=["bogus"])
    with pytest.raises(SpaceError, match="outside the space"):
        tree.route({"1<-0": "conv_7x7"})
    assert tree.candidates(1) == ["2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]


def test_bad_strategies_and_schedules_are_clear_errors(nb201_supernet):
    with pytest.raises(ConfigError, match="unknown split strategy 'gmm'; known: exhaustive, gm"):
        create_strategy("gmm")
    with pytest.raises(ConfigError, match="split strategy 'exhaustive' has no option 'batches'"):
        create_strategy("exhaustive", {"batches": 3})
    late = FewShotConfig(strategy="gm", warmup_epochs=2, split_every=2, splits=2)
    with pytest.raises(ConfigError, match="last split comes after epoch 4 but training has only 4"):
        FewShotSupernet.from_config(nb201_supernet, late, epochs=4)
    with pytest.raises(ConfigError, match="fewshot.splits = 0 is not allowed; expected a value >= 1"):
        FewShotSupernet.from_config(nb201_supernet, FewShotConfig("gm", splits=0), epochs=4)
    fixed = copy.deepcopy(nb201_supernet)
    fixed.space = fixed.space.restrict("1<-0", ["none"])
    assert "1<-0" not in FewShotSupernet(fixed).decisions  # by default: only splittable ones
    with pytest.raises(SpaceError, match="single choice 'none' in the space"):
        FewShotSupernet(fixed, decisions=["1<-0"])
