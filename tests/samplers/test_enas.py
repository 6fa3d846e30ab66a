"""The ENAS controller sampler and the memory buffer (issue 17)."""
import pickle

import pytest
import torch

from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.samplers import SAMPLERS, EnasSampler
from nasengine.samplers.base import SamplerContext
from nasengine.samplers.buffer import MemoryBuffer
from nasengine.train import read_metrics
from search_spaces.macro import MacroFamily
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()
TARGET = {label: "nor_conv_3x3" for label in SPACE.labels}


class ToyContext(SamplerContext):
    """Reward = fraction of decisions that match TARGET (no supernet involved)."""

    def __init__(self) -> None:
        super().__init__(supernet=None, device=torch.device("cpu"), complexity=dict,
                         valid_batch=lambda k: (torch.zeros(1), torch.tensor([k])),
                         valid_batches=1)
        self.batches: list[int] = []

    def score(self, arch, batch):
        self.batches.append(int(batch[1]))
        return sum(arch[k] == v for k, v in TARGET.items()) / len(TARGET), 0.0


def enas(seed=0, **options) -> EnasSampler:
    return SAMPLERS.create("enas", options, space=SPACE, seed=seed)  # as the engine does


@pytest.mark.parametrize("space", [SPACE, MacroFamily().space()], ids=["nb201", "macro"])
def test_samples_only_valid_archs(space):
    sampler = EnasSampler(space, seed=1)
    assert all(space.contains(a) for a in sampler.draw(200))


def test_arch_log_prob_is_the_sum_of_its_decisions_and_matches_sampling():
    sampler = enas(seed=2)
    draw = sampler.controller.sample(16, torch.Generator().manual_seed(0))
    per_decision = sampler.controller.decision_log_probs(draw.archs)
    assert per_decision.shape == (16, len(SPACE.labels))
    assert (per_decision <= 0).all()
    whole = sampler.controller.log_prob(draw.archs)
    assert torch.allclose(whole, per_decision.sum(1))
    assert torch.allclose(whole, draw.log_prob, atol=1e-5)


def test_decision_probabilities_sum_to_one_over_choices():
    """Teacher-forced log-probs are a distribution: summing over the first decision's choices."""
    controller = enas(seed=3).controller
    archs = torch.zeros(5, len(SPACE.labels), dtype=torch.long)
    archs[:, 0] = torch.arange(5)
    first = controller.decision_log_probs(archs)[:, 0]
    assert torch.isclose(first.exp().sum(), torch.tensor(1.0), atol=1e-5)


def test_reinforce_raises_the_probability_of_the_rewarded_arch():
    sampler = enas(seed=0, controller_steps=25, aggregate=10, lr=0.03)
    sampler.bind(ToyContext())
    target = sampler.encode([TARGET])
    before = sampler.controller.log_prob(target).item()
    for epoch in range(3):
        sampler.on_epoch_end(epoch)
    after = sampler.controller.log_prob(target).item()
    assert after > before + 2.0  # e.g. -9.7 -> about -4 (probability x e^2 at least)
    assert sampler.epoch_log()["reward"] > 0.4


def test_each_sample_is_scored_on_its_own_validation_batch():
    sampler, context = enas(seed=0, controller_steps=2, aggregate=3), ToyContext()
    sampler.bind(context)
    sampler.on_epoch_end(0)
    sampler.on_epoch_end(1)
    assert context.batches == list(range(12)) and sampler.valid_drawn == 12


def test_reconstruction_loss_falls_on_a_fixed_buffer():
    sampler = enas(seed=1)
    archs = sampler.encode([SPACE.sample(sampler.rng) for _ in range(30)])
    optimizer = torch.optim.Adam(sampler.controller.parameters(), lr=0.01)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = sampler.reconstruction_loss(archs)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_buffer_replays_what_it_stored_and_renews_when_full():
    gen = torch.Generator().manual_seed(0)
    buffer = MemoryBuffer(decisions=3, capacity=6, replace=2)
    first = torch.arange(12).view(4, 3)
    buffer.store(first, torch.arange(4.0), gen)
    replay = buffer.replay(10, gen)
    assert sorted(map(tuple, replay.tolist())) == sorted(map(tuple, first.tolist()))
    buffer.store(first + 100, torch.zeros(4), gen)  # 2 fit, 2 dropped
    assert len(buffer) == 6
    buffer.store(first + 1000, torch.zeros(4), gen)  # full: 2 random slots renewed
    rows = set(map(tuple, buffer.replay(6, gen).tolist()))
    assert len(rows) == 6
    assert len([r for r in rows if r[0] >= 1000]) == 2
    assert {tuple(r) for r in (first + 1000)[:2].tolist()} <= rows


def test_memory_buffer_schedule_and_reconstruction_term():
    sampler = enas(seed=0, controller_steps=2, aggregate=5, memory_buffer=True,
                   buffer_start_epoch=1, sup_start_epoch=2, buffer_capacity=15, buffer_replace=3)
    sampler.bind(ToyContext())
    logs = []
    for epoch in range(4):
        sampler.on_epoch_end(epoch)
        logs.append(sampler.epoch_log())
    assert [r["buffer"] for r in logs] == [0, 10, 15, 15]
    assert [r["sup_loss"] is None for r in logs] == [True, True, False, False]


def _toy_run(sampler, epochs):
    sampler.bind(ToyContext())
    for epoch in epochs:
        sampler.on_epoch_end(epoch)
        [sampler.sample() for _ in range(7)]  # the training steps' draws
    return sampler


def test_controller_state_resumes_exactly():
    options = dict(controller_steps=3, aggregate=4, memory_buffer=True, buffer_start_epoch=0,
                   sup_start_epoch=1, buffer_capacity=20, buffer_replace=4, sup_batch=8)
    full = _toy_run(enas(seed=5, **options), range(6))
    cut = _toy_run(enas(seed=5, **options), range(3))
    resumed = enas(seed=9, **options)
    resumed.load_state_dict(pickle.loads(pickle.dumps(cut.state_dict())))
    _toy_run(resumed, range(3, 6))
    a, b = full.controller.state_dict(), resumed.controller.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(full.buffer.archs, resumed.buffer.archs)
    assert full.baseline == resumed.baseline and full.epoch_log() == resumed.epoch_log()
    assert [full.sample() for _ in range(5)] == [resumed.sample() for _ in range(5)]


def test_resume_refuses_another_buffer_setting():
    with pytest.raises(ConfigError, match="memory_buffer"):
        enas(memory_buffer=True).load_state_dict(enas().state_dict())


@pytest.mark.parametrize("options, match", [
    ({"lr": 0}, "lr"), ({"aggregate": 0}, "aggregate"), ({"baseline_decay": 1.0}, "baseline_decay"),
    ({"memory_buffer": "yes"}, "memory_buffer"), ({"sup_start_epoch": -1}, "sup_start_epoch"),
    ({"temperature": "hot"}, "temperature")])
def test_bad_options_are_refused_by_name(options, match):
    with pytest.raises(ConfigError, match=match):
        enas(**options)


def test_learning_without_validation_images_says_how_to_get_them():
    with pytest.raises(ConfigError, match="data.valid_images"):
        enas().bind(SamplerContext(supernet=None, device=torch.device("cpu"), complexity=dict))
    with pytest.raises(ConfigError, match="never bound"):
        enas().on_epoch_end(0)


TINY = ["supernet.channels=4", "data.train_limit=512", "train.batch_size=64", "train.epochs=3",
        "data.valid_images=128", "sampler.name=enas", "sampler.options.controller_steps=2",
        "sampler.options.aggregate=3", "sampler.options.memory_buffer=true",
        "sampler.options.buffer_start_epoch=0", "sampler.options.sup_start_epoch=1"]


def test_training_resumes_bit_exactly_with_the_controller(cifar10_path, tmp_path, train_twice):
    full, resumed = train_twice(load_config("smoke", TINY), stop_after=2)  # equal supernets
    assert read_metrics(tmp_path / "full") == [
        {**r, "seconds": f["seconds"], "images_per_s": f["images_per_s"]}
        for r, f in zip(read_metrics(tmp_path / "cut"), read_metrics(tmp_path / "full"))]
    assert read_metrics(tmp_path / "full")[-1]["sampler"]["samples"] == 6
    assert full.sampler.state_dict()["generator"].equal(resumed.sampler.state_dict()["generator"])
