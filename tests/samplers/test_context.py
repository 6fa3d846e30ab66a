"""The sampler context: what learning samplers (ENAS, ShiftNAS) get from the trainer."""
import pytest
import torch

from nasengine import api
from nasengine.config import load_config
from nasengine.errors import ConfigError
from nasengine.evaluate import _batchnorms
from nasengine.samplers.uniform import UniformSampler

TINY = ["supernet.channels=4", "data.train_limit=512", "train.batch_size=64", "train.epochs=2"]


class Recording(UniformSampler):
    """A uniform sampler that records the hooks the trainer calls."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple] = []

    def bind(self, context) -> None:
        self.context = context
        self.calls.append(("bind",))

    def on_epoch_end(self, epoch: int) -> None:
        self.calls.append(("end", epoch, self.context.score(self.sample(),
                                                           self.context.valid_batch(epoch))))


@pytest.fixture
def pipe(cifar10_path):
    config = load_config("smoke", TINY + ["data.valid_images=128"])
    pipe = api.build(config, progress=False)
    pipe.sampler = Recording(pipe.space, seed=0)
    return pipe


def test_validation_images_are_held_out_of_training(pipe):
    assert len(pipe.train_set) == 512 - 128 and len(pipe.valid_set) == 128
    train = {bytes(img.numpy()) for img in pipe.train_set.images}
    assert not any(bytes(img.numpy()) in train for img in pipe.valid_set.images)


def test_hooks_run_once_per_epoch_with_a_context(pipe, tmp_path):
    pipe.trainer(tmp_path).fit()
    kinds = [c[0] for c in pipe.sampler.calls]
    assert kinds == ["bind", "end", "end"]
    accuracy, loss = pipe.sampler.calls[1][2]
    assert 0.0 <= accuracy <= 1.0 and loss > 0


def test_valid_batches_are_a_pure_function_of_k(pipe):
    context = pipe.sampler_context()
    assert context.valid_batches == 2  # 128 images / batch 64
    first, again = context.valid_batch(3), pipe.sampler_context().valid_batch(3)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(context.valid_batch(0)[1], context.valid_batch(1)[1])


def test_scoring_leaves_running_stats_and_mode_untouched(pipe):
    context = pipe.sampler_context()
    pipe.supernet.train()
    before = [bn.running_mean.clone() for bn in _batchnorms(pipe.supernet)]
    context.score(pipe.space.sample(pipe.sampler.rng), context.valid_batch(0))
    assert pipe.supernet.training
    assert all(torch.equal(a, bn.running_mean)
               for a, bn in zip(before, _batchnorms(pipe.supernet)))


def test_complexity_is_measured_at_the_runs_width_and_cached(pipe):
    arch = pipe.space.sample(pipe.sampler.rng)
    narrow = pipe.complexity(arch)
    assert narrow is pipe.complexity(arch)
    assert narrow["params"] < pipe.family.complexity(arch)["params"]  # family default C=16, N=5


def test_a_sampler_that_needs_validation_says_how_to_get_it(cifar10_path):
    pipe = api.build(load_config("smoke", TINY), progress=False)
    with pytest.raises(ConfigError, match="data.valid_images"):
        pipe.sampler_context().require_valid("enas")


def test_too_many_validation_images_is_an_error(cifar10_path):
    pipe = api.build(load_config("smoke", TINY + ["data.valid_images=512"]), progress=False)
    with pytest.raises(ConfigError, match=r"valid_images=512 .* or 0 to hold none out"):
        _ = pipe.train_set
