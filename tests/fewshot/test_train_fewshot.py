"""Few-shot trees under the real trainer: optimizer hand-over, exact resume, end to end."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from nasengine import api
from nasengine.config import TrainConfig, load_config
from nasengine.fewshot import FewShotSplitting, FewShotSupernet
from nasengine.samplers import UniformSampler
from nasengine.train import Trainer, read_metrics

TINY = ["supernet.channels=4", "data.train_limit=512", "train.batch_size=64", "train.epochs=3"]
GM = ["fewshot.strategy=gm", "fewshot.warmup_epochs=1", "fewshot.split_every=1",
      "fewshot.splits=2", "fewshot.options.batches=1"]


class FakeLoader:
    """Four fixed random batches per epoch (the trainer's loader interface)."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.batches = [(torch.randn(4, 3, 32, 32, generator=gen),
                         torch.randint(0, 10, (4,), generator=gen)) for _ in range(4)]

    def set_epoch(self, epoch, index_sampler=None):
        pass

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def test_children_continue_the_parents_momentum(nb201_supernet, tmp_path):
    tree = FewShotSupernet(copy.deepcopy(nb201_supernet))
    config = TrainConfig(epochs=3, channels_last=False)
    trainer = Trainer(tree, UniformSampler(tree.space), FakeLoader(), config, tmp_path, {},
                      progress=False)
    trainer.fit(stop_after=1)
    momentum = {name: trainer.optimizer.state[p]["momentum_buffer"].clone()
                for name, p in tree.leaves["0"].named_parameters() if p in trainer.optimizer.state}
    assert momentum
    trainer.adopt_parameters(tree.split(0, "3<-0", [("none", "skip_connect"),
                                                    ("nor_conv_1x1", "nor_conv_3x3",
                                                     "avg_pool_3x3")]))
    assert trainer.optimizer.param_groups[0]["params"] == list(tree.parameters())
    for leaf in ("1", "2"):
        for name, p in tree.leaves[leaf].named_parameters():
            if name in momentum:
                assert torch.equal(trainer.optimizer.state[p]["momentum_buffer"], momentum[name])
            else:
                assert p not in trainer.optimizer.state
    trainer.fit()  # the children train on
    state = trainer.state_dict()
    again = Trainer(FewShotSupernet(copy.deepcopy(nb201_supernet)), UniformSampler(tree.space),
                    FakeLoader(), config, tmp_path, {}, progress=False)
    again.load_state_dict(state)  # rebuilds the tree, then the optimizer finds its parameters
    assert again.optimizer.state_dict()["state"].keys() == state["optimizer"]["state"].keys()


def test_children_join_their_sources_param_group(nb201_supernet, tmp_path):
    """With several param groups (e.g. another lr for some layers) a copy keeps its group."""
    tree = FewShotSupernet(copy.deepcopy(nb201_supernet))
    trainer = Trainer(tree, UniformSampler(tree.space), FakeLoader(),
                      TrainConfig(epochs=3, channels_last=False), tmp_path, {}, progress=False)
    named = list(tree.leaves["0"].named_parameters())
    half = len(named) // 2
    trainer.optimizer = torch.optim.SGD([{"params": [p for _, p in named[:half]]},
                                         {"params": [p for _, p in named[half:]], "lr": 1e-3}],
                                        lr=0.1)
    group_of = {name: int(i >= half) for i, (name, _) in enumerate(named)}
    trainer.adopt_parameters(tree.split(0, "3<-0", [("none", "skip_connect"),
                                                    ("nor_conv_1x1", "nor_conv_3x3",
                                                     "avg_pool_3x3")]))
    groups = [{id(p) for p in g["params"]} for g in trainer.optimizer.param_groups]
    for leaf in ("1", "2"):
        for name, p in tree.leaves[leaf].named_parameters():
            assert id(p) in groups[group_of[name]], name


def untimed(tree: dict) -> dict:
    """The tree's description without split timings (wall-clock differs between runs)."""
    tree = copy.deepcopy(tree)
    for node in tree["nodes"]:
        if node["split"]:
            node["split"].pop("seconds")
    return tree


@pytest.fixture
def gm_config(cifar10_path):
    return load_config("smoke", TINY + GM)


@pytest.mark.slow
@pytest.mark.parametrize("parts", [1, 2])
def test_resumed_tree_run_equals_the_uninterrupted_run(gm_config, tmp_path, parts):
    """Also with split batches, whose replicas must follow the tree as it splits."""
    gm_config.train.data_parallel = parts
    full = api.build(gm_config, progress=False)
    full.trainer(tmp_path / "full").fit()
    first = api.build(gm_config, progress=False)
    first.trainer(tmp_path / "cut").fit(stop_after=1)  # stops between the two splits
    resumed = api.build(gm_config, progress=False)
    resumed.trainer(tmp_path / "cut").fit(resume=True)

    assert len(full.supernet.leaf_ids) == 4
    assert untimed(resumed.supernet.tree_data()) == untimed(full.supernet.tree_data())
    a, b = full.supernet.state_dict(), resumed.supernet.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a if k != "_extra_state")
    assert [r["loss"] for r in read_metrics(tmp_path / "full")] == \
        [r["loss"] for r in read_metrics(tmp_path / "cut")]
    tree = json.loads((tmp_path / "cut" / "fewshot_tree.json").read_text())
    assert untimed(tree) == untimed(json.loads((tmp_path / "full" / "fewshot_tree.json")
                                               .read_text()))
    assert [n["split"]["epoch"] for n in tree["nodes"] if n["split"]] == [1, 2, 2]


def test_fewshot_settings_join_the_fingerprint_only_when_on(gm_config):
    one_shot = load_config("smoke", TINY)
    assert "fewshot" not in one_shot.fingerprint() and "fewshot" in gm_config.fingerprint()


@pytest.mark.slow
def test_exhaustive_run_ranks_with_a_rebuilt_tree(cifar10_path, nb201_table_path, tmp_path):
    config = load_config("smoke", ["supernet.channels=4", "train.epochs=2", "data.train_limit=256",
                                   "fewshot.strategy=exhaustive", "fewshot.decisions=['2<-1']"])
    api.train(config, tmp_path, progress=False)
    report = api.rank(config, tmp_path, progress=False)  # a fresh pipeline: the root only
    # it loaded the trained tree (a root-only supernet could not hold its five leaves)
    assert report["protocol"]["checkpoint"] == {"epoch": 2, "epochs": 2, "finished": True}
    for suffix in ("json", "txt", "png"):
        assert (tmp_path / f"fewshot_tree.{suffix}").stat().st_size > 0
    text = (tmp_path / "fewshot_tree.txt").read_text()
    assert "split on 2<-1 after epoch 1" in text and text.count("[leaf]") == 5


@pytest.mark.parametrize("sampler", ["uniform", "pada"])
def test_samplers_drive_a_splitting_tree_unchanged(nb201_supernet, tmp_path, sampler):
    """A registered sampler trains a tree through the trainer; every leaf gets steps."""
    from nasengine.fewshot import ExhaustiveSplit, SplitSchedule
    from nasengine.samplers import SAMPLERS

    tree = FewShotSupernet(nb201_supernet, ExhaustiveSplit(), SplitSchedule(1, 1, 1), ["3<-2"])
    options = {"path": True, "data": False, "importance_weight": 1.0} if sampler == "pada" else {}
    chosen = SAMPLERS.create(sampler, space=tree.space, seed=0, **options)
    loader = FakeLoader()
    loader.batches = loader.batches * 4  # 16 steps after the split
    trainer = Trainer(tree, chosen, loader, TrainConfig(epochs=2, channels_last=False), tmp_path,
                      {}, progress=False, reshapers=[FewShotSplitting(tree)])
    trainer.fit(stop_after=1)  # the warm-up epoch, then the split
    assert len(tree.leaf_ids) == 5

    def stems():
        return {i: tree.leaves[str(i)].network.stem[0].weight.detach().clone()
                for i in tree.leaf_ids}

    at_split = stems()
    trainer.fit()
    assert all(not torch.equal(w, at_split[i]) for i, w in stems().items())  # each leaf trained
    assert (tmp_path / "fewshot_tree.txt").read_text().count("[leaf]") == 5
