"""PA&DA: the mixing formulas, exact uniform limits, resumable state, option errors."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nasengine.errors import ConfigError
from nasengine.samplers import SAMPLERS, PADASampler, StepFeedback, UniformSampler
from nasengine.space import Categorical, SearchSpace
from nasengine.supernet.base import Supernet

torch.set_num_threads(1)

VALUES = ("none", "skip", "conv_a", "conv_b")
SPACE = SearchSpace([Categorical("e0", VALUES), Categorical("e1", VALUES)])


class FakeSupernet(Supernet):
    """One module per (edge, choice): a bias-free linear for ``conv_*``, identity for skip."""

    def __init__(self) -> None:
        super().__init__()
        self.space = SPACE
        self.ops = nn.ModuleDict({f"{label}_{v}": nn.Linear(2, 2, bias=False)
                                  if v.startswith("conv") else nn.Identity()
                                  for label in SPACE.labels for v in VALUES if v != "none"})

    def forward(self, x, arch):
        return x

    def choice_modules(self, arch):
        used: dict[str, list[nn.Module]] = {}
        for label, value in arch.items():
            if value != "none":
                used.setdefault(value, []).append(self.ops[f"{label}_{value}"])
        return used

    def set_grads(self, arch, norms):
        """Give the arch's conv on each edge a gradient of the given norm."""
        for (label, value), norm in zip(arch.items(), norms):
            if value.startswith("conv"):
                weight = self.ops[f"{label}_{value}"].weight
                weight.grad = torch.zeros_like(weight)
                weight.grad[0, 0] = norm


def feedback(net, arch, logits=None, targets=None, indices=None):
    logits = torch.zeros(1, 2) if logits is None else logits
    targets = torch.zeros(len(logits), dtype=torch.long) if targets is None else targets
    return StepFeedback(arch, 0.0, logits, targets, indices, net)


def observe_path(sampler, net, steps):
    """Feed ``[(arch, norms), ...]`` as one epoch and refresh for epoch 1."""
    sampler.on_epoch_start(0)
    for arch, norms in steps:
        net.set_grads(arch, norms)
        sampler.observe(feedback(net, arch))
    sampler.on_epoch_start(1)
    return sampler.path_probabilities()


def mix(weight, importance):
    return [weight * q + (1 - weight) / len(importance) for q in importance]


def as_list(probs):
    return [probs[v] for v in VALUES]


# -- path importance --------------------------------------------------------------
def test_op_probabilities_follow_the_mixing_formula():
    net, sampler = FakeSupernet(), PADASampler(SPACE, data=False, importance_weight=0.6, importance_schedule="constant")
    # step 1: conv_a on both edges (norms 3, 1): s = 4 / 2 decisions = 2, G_a = (0 + 2) / 2 = 1
    # step 2: G_a = (1 + 5) / 2 = 3, G_b = (0 + 2) / 2 = 1  ->  importance [0, 0, 3/4, 1/4]
    probs = observe_path(sampler, net, [({"e0": "conv_a", "e1": "conv_a"}, (3, 1)),
                                        ({"e0": "conv_a", "e1": "conv_b"}, (5, 2))])
    expected = mix(0.6, [0, 0, 0.75, 0.25])
    for label in SPACE.labels:
        assert as_list(probs[label]) == pytest.approx(expected)


def test_edge_granularity_keeps_one_estimate_per_decision():
    net = FakeSupernet()
    sampler = PADASampler(SPACE, data=False, importance_weight=1.0, importance_schedule="constant",
                          path_granularity="edge")
    probs = observe_path(sampler, net, [({"e0": "conv_a", "e1": "conv_a"}, (3, 1)),
                                        ({"e0": "conv_b", "e1": "conv_a"}, (1, 1))])
    assert as_list(probs["e0"]) == pytest.approx([0, 0, 0.75, 0.25])  # G 1.5 vs 0.5
    assert as_list(probs["e1"]) == pytest.approx([0, 0, 1, 0])


def test_param_free_mean_keeps_parameter_free_choices_alive():
    net = FakeSupernet()
    sampler = PADASampler(SPACE, data=False, importance_weight=1.0, importance_schedule="constant", param_free="mean")
    probs = observe_path(sampler, net, [({"e0": "conv_a", "e1": "skip"}, (3, 0)),
                                        ({"e0": "conv_b", "e1": "none"}, (1, 0))])
    # G_a = 1.5, G_b = 0.5; none and skip get their mean 1.0
    assert as_list(probs["e0"]) == pytest.approx([0.25, 0.25, 0.375, 0.125])


def test_importance_paths_are_drawn_with_those_probabilities():
    net, sampler = FakeSupernet(), PADASampler(SPACE, data=False, importance_weight=0.6, importance_schedule="constant")
    probs = observe_path(sampler, net, [({"e0": "conv_a", "e1": "conv_b"}, (3, 1))])
    draws = [sampler.sample()["e0"] for _ in range(20000)]
    for value in VALUES:
        assert draws.count(value) / len(draws) == pytest.approx(probs["e0"][value], abs=0.015)


def test_linear_schedule_ramps_like_the_reference_code():
    sampler = PADASampler(SPACE, importance_weight=0.8, epochs=4)
    assert [sampler.mixing_weight(e, 0.8) for e in range(6)] == \
        pytest.approx([0, 0, 0.2, 0.4, 0.6, 0.8])


# -- data importance --------------------------------------------------------------
def logits_for(scores):
    """Two-class logits whose ||softmax - onehot(0)|| equals ``scores``."""
    p0 = 1 - torch.as_tensor(scores, dtype=torch.float64) / math.sqrt(2)
    return torch.stack([torch.log(p0 / (1 - p0)), torch.zeros_like(p0)], dim=1).float()


def test_data_stream_frequencies_converge_to_the_mixture():
    norms, group = torch.tensor([0.1, 0.2, 0.3, 0.4]), 1000
    n = len(norms) * group
    sampler = PADASampler(SPACE, path=False, importance_weight=0.5, importance_schedule="constant")
    sampler.on_epoch_start(0)
    assert sampler.index_sampler() is None  # epoch 0 is the uniform permutation
    sampler.observe(feedback(None, {}, logits_for(norms.repeat_interleave(group)),
                             indices=torch.arange(n)))
    sampler.on_epoch_start(1)
    draw = sampler.index_sampler()
    stream = torch.cat([draw(n, torch.Generator().manual_seed(k)) for k in range(10)])
    freq = torch.bincount(stream // group, minlength=4).double() / len(stream)
    expected = 0.5 * norms / norms.sum() + 0.5 / len(norms)
    assert freq.tolist() == pytest.approx(expected.tolist(), abs=0.01)
    assert len(draw(n, torch.Generator())) == n  # the epoch keeps its length


def test_unseen_examples_get_the_mean_score_and_the_table_grows():
    sampler = PADASampler(SPACE, path=False, importance_weight=1.0, importance_schedule="constant", reweight=True,
                          n_examples=2)
    sampler.on_epoch_start(0)
    scores = torch.tensor([0.1, 0.2, 0.3, 0.6])
    sampler.observe(feedback(None, {}, logits_for(scores), indices=torch.tensor([0, 1, 2, 3])))
    sampler.on_epoch_start(1)
    sampler.index_sampler()(8, torch.Generator())  # 4..7 never seen: mean score 0.3
    weights = sampler.loss_weights({}, torch.arange(8))  # 1 / (n p_i)
    probs = 1 / (8 * weights.double())
    expected = torch.tensor([0.1, 0.2, 0.3, 0.6] + [0.3] * 4)
    assert probs.tolist() == pytest.approx((expected / expected.sum()).tolist(), rel=1e-5)
    assert sampler.distribution_log()[-1]["data"]["seen_fraction"] == 0.5


def test_no_loss_weights_without_reweight():
    sampler = PADASampler(SPACE)
    assert sampler.loss_weights({"e0": "none", "e1": "none"}, torch.arange(3)) is None


# -- exact uniform limits -----------------------------------------------------------
def drive(sampler, net, epoch, n=32, steps=6):
    """One synthetic epoch: the index stream, the archs, deterministic feedback."""
    sampler.on_epoch_start(epoch)
    draw = sampler.index_sampler()
    gen = torch.Generator().manual_seed(epoch)
    order = draw(n, gen) if draw else torch.randperm(n, generator=gen)
    archs = []
    for step in range(steps):
        arch = sampler.sample()
        net.set_grads(arch, (step + 1.0, 2.0))
        idx = order[step * 4:(step + 1) * 4]
        logits = torch.stack([idx.float() % 5 - 2, torch.zeros(4)], dim=1)
        sampler.observe(feedback(net, arch, logits, indices=idx))
        archs.append(SPACE.encode(arch))
    return order.tolist(), archs


@pytest.mark.parametrize("options", [{"path": False, "data": False}, {"importance_weight": 0.0}])
def test_uniform_limits_reproduce_the_uniform_sampler(options):
    net = FakeSupernet()
    pada = PADASampler(SPACE, seed=7, importance_schedule="constant", **options)
    uniform = UniformSampler(SPACE, seed=7)
    records = [drive(pada, net, epoch) for epoch in range(3)]
    expected = [drive(uniform, net, epoch) for epoch in range(3)]
    assert records == expected


# -- state -------------------------------------------------------------------------
@pytest.mark.parametrize("granularity", ["op", "edge"])
def test_checkpoint_round_trip_continues_the_same_stream(tmp_path, granularity):
    options = {"importance_weight": 0.7, "epochs": 4, "path_granularity": granularity}
    net = FakeSupernet()
    full = PADASampler(SPACE, seed=1, **options)
    records = [drive(full, net, epoch) for epoch in range(4)]

    first = PADASampler(SPACE, seed=1, **options)
    for epoch in range(2):
        drive(first, net, epoch)
    torch.save(first.state_dict(), tmp_path / "sampler.pt")
    resumed = PADASampler(SPACE, seed=99, **options)
    resumed.load_state_dict(torch.load(tmp_path / "sampler.pt", weights_only=False))
    assert [drive(resumed, net, epoch) for epoch in (2, 3)] == records[2:]
    assert resumed.distribution_log() == full.distribution_log()
    assert records[3] != records[2]


def test_a_checkpoint_from_before_the_rename_resumes_with_the_new_log_keys():
    options = {"importance_weight": 0.7, "epochs": 4}
    net, full = FakeSupernet(), PADASampler(SPACE, seed=1, **options)
    records = [drive(full, net, epoch) for epoch in range(3)]
    first = PADASampler(SPACE, seed=1, **options)
    for epoch in range(2):
        drive(first, net, epoch)
    state = first.state_dict()
    state["log"] = [{{"path_importance_weight": "tau_path", "data_importance_weight": "tau_data"}
                     .get(k, k): v for k, v in r.items()} for r in state["log"]]  # as written then
    resumed = PADASampler(SPACE, seed=1, **options)
    resumed.load_state_dict(state)
    assert drive(resumed, net, 2) == records[2]
    assert resumed.distribution_log() == full.distribution_log()


# -- options -----------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"importance_weight": 1.5}, r"importance_weight = 1.5 .*expected a value in \[0, 1\]"),
    ({"importance_weight": -0.1}, r"importance_weight = -0.1 .*expected a value in \[0, 1\]"),
    ({"data_importance_weight": "high"}, r"data_importance_weight = 'high' .*a finite number"),
    ({"path_granularity": "cell"}, r"path_granularity = 'cell' .*expected one of 'op', 'edge'"),
    ({"importance_schedule": "cosine"}, r"importance_schedule = 'cosine' .*one of 'linear'"),
    ({"param_free": "skip"}, r"param_free = 'skip' .*expected one of 'zero', 'mean'"),
    ({"epochs": 0}, r"epochs = 0 .*expected a value >= 1"),
    ({"path": "yes"}, r"path = 'yes' .*expected true or false"),
    ({"tau": 0.5}, r"no option 'tau'; it accepts: .*importance_weight"),  # the renamed option
])
def test_bad_options_raise_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        SAMPLERS.create("pada", options, space=SPACE, seed=0)  # as the engine does


def test_linear_ramp_without_run_length_fails_at_the_first_epoch():
    sampler = PADASampler(SPACE)
    with pytest.raises(ConfigError, match="set sampler.options.epochs"):
        sampler.on_epoch_start(0)


def test_the_trainer_supplies_the_run_length():
    sampler = PADASampler(SPACE, importance_weight=0.8)
    sampler.on_train_start(epochs=4)
    sampler.on_epoch_start(0)
    assert sampler.mixing_weight(3, 0.8) == pytest.approx(0.8 * 2 / 4)


# -- integration -------------------------------------------------------------------
def test_short_real_training_moves_both_distributions(cifar10_path, tmp_path):
    from nasengine import api
    from nasengine.config import load_config
    from nasengine.train import read_metrics

    config = load_config("smoke", ["sampler.name=pada", "sampler.options.importance_weight=1.0",
                                   "sampler.options.importance_schedule=constant", "train.epochs=2",
                                   "data.train_limit=512", "supernet.channels=4"])
    pipe = api.train(config, tmp_path, progress=False)
    uniform, moved = pipe.sampler.distribution_log()
    logged = [r["sampler"] for r in read_metrics(tmp_path)]  # the distributions over time
    assert logged == [uniform, moved]
    assert (tmp_path / "sampling.png").stat().st_size > 0
    assert uniform["path_importance_weight"] == 0 and uniform["path"]["1<-0"]["none"] == pytest.approx(0.2)
    ops = moved["path"]["1<-0"]
    assert ops["none"] == ops["skip_connect"] == ops["avg_pool_3x3"] == 0  # the collapse at importance_weight=1
    assert ops["nor_conv_1x1"] + ops["nor_conv_3x3"] == pytest.approx(1)
    data = moved["data"]
    assert data["n"] == 512 and data["seen_fraction"] == 1.0
    assert data["ess_fraction"] < 1 - 1e-4 and data["max_prob_ratio"] > 1.05


def test_interrupted_training_resumes_the_same_streams(cifar10_path, train_twice):
    from nasengine.config import load_config

    config = load_config("smoke", ["sampler.name=pada", "sampler.options.epochs=3",
                                   "train.epochs=3", "data.train_limit=256",
                                   "supernet.channels=4"])
    full, resumed = train_twice(config, stop_after=2)  # equal supernets asserted there
    assert resumed.sampler.distribution_log() == full.sampler.distribution_log()
    assert full.sampler.distribution_log()[2]["path_importance_weight"] == pytest.approx(1 / 3)


def test_op_granularity_is_refused_where_decisions_have_different_choices():
    mixed = SearchSpace([Categorical("depth", (1, 2)), Categorical("width", (0.5, 1.0))])
    assert SAMPLERS.create("pada", space=mixed).path_granularity == "edge"
    assert SAMPLERS.create("pada", space=SPACE).path_granularity == "op"
    with pytest.raises(ConfigError, match="use \"edge\""):
        SAMPLERS.create("pada", space=mixed, path_granularity="op")


def test_path_only_pada_on_a_supernet_without_choice_modules_is_refused():
    class NoModules(FakeSupernet):
        def choice_modules(self, arch):
            return {}

    net, arch = NoModules(), {"e0": "conv_a", "e1": "skip"}
    sampler = SAMPLERS.create("pada", space=SPACE, data=False, importance_schedule="constant")
    sampler.on_epoch_start(0)
    with pytest.raises(ConfigError, match="would be uniform sampling.*sampler.name=\"uniform\""):
        sampler.observe(feedback(net, arch))
    with_data = SAMPLERS.create("pada", space=SPACE, importance_schedule="constant")
    with_data.on_epoch_start(0)
    with pytest.warns(UserWarning, match="path importance is inactive"):
        with_data.observe(feedback(net, arch, indices=torch.tensor([0])))
