"""TensorLoader: reproducible epochs, index samplers and batch contents."""
from __future__ import annotations

import pytest
import torch

from nasengine.data import BatchAugment, TensorLoader


@pytest.fixture
def ds(make_dataset):
    return make_dataset(100, 10, seed=0)


def epoch(loader: TensorLoader, e: int) -> list[tuple[torch.Tensor, ...]]:
    loader.set_epoch(e)
    return list(loader)


def same(a: list[tuple[torch.Tensor, ...]], b: list[tuple[torch.Tensor, ...]]) -> bool:
    return len(a) == len(b) and all(
        all(torch.equal(u, v) for u, v in zip(p, q)) for p, q in zip(a, b))


def test_lengths_and_shapes(ds) -> None:
    assert len(TensorLoader(ds, 32)) == 3
    loader = TensorLoader(ds, 32, drop_last=False)
    batches = list(loader)
    assert len(loader) == len(batches) == 4 and [len(b[1]) for b in batches] == [32, 32, 32, 4]
    x, y = batches[0]
    assert x.shape == (32, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_batches_hold_the_right_images_and_labels(ds) -> None:
    loader = TensorLoader(ds, 16, drop_last=False, return_indices=True)
    seen = []
    for x, y, idx in loader:
        assert torch.equal((x * 255).round().to(torch.uint8), ds.images[idx])
        assert torch.equal(y, ds.labels[idx])
        seen.append(idx)
    assert torch.equal(torch.cat(seen).sort().values, torch.arange(len(ds)))


def test_epoch_is_a_pure_function_of_seed_and_epoch(ds) -> None:
    aug = BatchAugment((0.5,) * 3, (0.25,) * 3)
    run = TensorLoader(ds, 32, augment=aug, seed=7)
    first, second = epoch(run, 0), epoch(run, 1)
    resumed = TensorLoader(ds, 32, augment=aug, seed=7)
    assert same(epoch(resumed, 1), second)
    assert same(epoch(resumed, 0), first)
    assert same(list(resumed), first)  # iterating again repeats the epoch
    assert not same(first, second)
    assert not same(epoch(TensorLoader(ds, 32, augment=aug, seed=8), 0), first)


def test_two_epochs_shuffle_differently(ds) -> None:
    loader = TensorLoader(ds, 100, drop_last=False)
    loader.set_epoch(0)
    a = loader.order().clone()
    loader.set_epoch(1)
    assert not torch.equal(a, loader.order())
    assert torch.equal(a.sort().values, loader.order().sort().values)
    assert not torch.equal(a, torch.arange(100))  # the class-grouped source is shuffled


def test_no_shuffle_keeps_dataset_order(ds) -> None:
    loader = TensorLoader(ds, 10, shuffle=False)
    assert torch.equal(loader.order(), torch.arange(100))


def test_index_sampler_drives_the_epoch_and_yields_indices(ds) -> None:
    def twice_with_replacement(n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randint(0, n, (2 * n,), generator=gen)

    loader = TensorLoader(ds, 25, index_sampler=twice_with_replacement)
    assert len(loader) == 8
    x, y, idx = next(iter(loader))
    assert torch.equal(y, ds.labels[idx])
    plain = TensorLoader(ds, 25)
    plain.set_epoch(2, index_sampler=twice_with_replacement)  # per-epoch override
    assert len(plain) == 8 and len(next(iter(plain))) == 3
    plain.set_epoch(3)
    assert len(plain) == 4 and len(next(iter(plain))) == 2


def test_bad_index_stream_is_rejected(ds) -> None:
    loader = TensorLoader(ds, 10, index_sampler=lambda n, gen: torch.arange(n + 1))
    with pytest.raises(ValueError, match="outside"):
        len(loader)


def test_channels_last(ds) -> None:
    x, _ = next(iter(TensorLoader(ds, 8, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_loader_keeps_data_on_device(ds) -> None:
    loader = TensorLoader(ds, 16, augment=BatchAugment((0.5,) * 3, (0.25,) * 3), device="cuda")
    assert loader.images.is_cuda and loader.images.dtype == torch.uint8
    x, y = next(iter(loader))
    assert x.is_cuda and y.is_cuda
