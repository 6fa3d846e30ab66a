"""BatchAugment against an explicit per-image reference implementation."""
from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from nasengine.data import BatchAugment

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def batch(n: int = 8, h: int = 6, w: int = 7, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), generator=gen, dtype=torch.uint8)


def reference_crop_flip(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor,
                        pad: int) -> torch.Tensor:
    """The obvious loop: pad each image with zeros, slice its crop, mirror it."""
    h, w = x.shape[2:]
    out = []
    for img, (dy, dx), flip in zip(x, offsets.tolist(), flips.tolist()):
        crop = F.pad(img, (pad, pad, pad, pad))[:, dy:dy + h, dx:dx + w]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


def reference_normalize(x: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (x.float() / 255 - mean) / std


def test_shapes_dtype_and_determinism() -> None:
    aug, x = BatchAugment(MEAN, STD), batch()
    out = aug(x, torch.Generator().manual_seed(3))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert torch.equal(out, aug(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(out, aug(x, torch.Generator().manual_seed(4)))
    assert aug(x).shape == x.shape  # global RNG when no generator is given


def test_call_is_crop_flip_then_normalize_with_drawn_params() -> None:
    aug, x = BatchAugment(MEAN, STD, pad=2), batch()
    params = aug.sample_params(len(x), torch.Generator().manual_seed(9))
    expected = reference_normalize(reference_crop_flip(x, *params, pad=2))
    torch.testing.assert_close(aug(x, torch.Generator().manual_seed(9)), expected)


def test_crop_flip_matches_per_image_reference() -> None:
    aug, x = BatchAugment(MEAN, STD, pad=3), batch(n=32)
    offsets, flips = aug.sample_params(len(x), torch.Generator().manual_seed(1))
    assert flips.any() and not flips.all()
    assert torch.equal(aug.crop_flip(x, offsets, flips), reference_crop_flip(x, offsets, flips, 3))


def test_crop_is_a_real_shift_with_zero_fill() -> None:
    aug, x = BatchAugment(MEAN, STD, pad=2, flip=False), batch(n=1, h=5, w=5) | 1  # no zeros
    corner = aug.crop_flip(x, torch.tensor([[0, 0]]), torch.tensor([False]))
    assert (corner[..., :2, :] == 0).all() and (corner[..., :, :2] == 0).all()
    assert torch.equal(corner[..., 2:, 2:], x[..., :3, :3])  # moved down-right by pad
    centre = aug.crop_flip(x, torch.tensor([[2, 2]]), torch.tensor([False]))
    assert torch.equal(centre, x)
    far = aug.crop_flip(x, torch.tensor([[4, 1]]), torch.tensor([False]))
    assert torch.equal(far[..., :3, 1:], x[..., 2:, :4]) and (far[..., 3:, :] == 0).all()


def test_offsets_cover_the_whole_range() -> None:
    offsets, flips = BatchAugment(MEAN, STD, pad=4).sample_params(
        4096, torch.Generator().manual_seed(0))
    assert set(offsets.unique().tolist()) == set(range(9))
    assert 0.45 < flips.float().mean() < 0.55


def test_flip_only_mirrors_exactly_the_flagged_images() -> None:
    aug, x = BatchAugment(MEAN, STD, pad=0, flip=True), batch(n=16)
    offsets, flips = aug.sample_params(len(x), torch.Generator().manual_seed(2))
    assert (offsets == 0).all()
    out = aug.crop_flip(x, offsets, flips)
    expected = torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)
    assert torch.equal(out, expected)


def test_eval_transform_is_normalisation_only() -> None:
    x = batch(n=4)
    evaluate = BatchAugment(MEAN, STD, pad=0, flip=False)
    torch.testing.assert_close(evaluate(x), reference_normalize(x))
    torch.testing.assert_close(BatchAugment(MEAN, STD).normalize(x), reference_normalize(x))


def test_normalising_with_the_data_stats_standardises_it(make_dataset) -> None:
    ds = make_dataset(256, 4, seed=0)
    mean, std = ds.mean_std()
    out = BatchAugment(mean, std, pad=0, flip=False)(ds.images)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_batch_device() -> None:
    aug, x = BatchAugment(MEAN, STD, pad=3), batch(n=32)
    offsets, flips = aug.sample_params(len(x), torch.Generator().manual_seed(1), "cuda")
    out = aug.crop_flip(x.cuda(), offsets, flips)
    assert out.is_cuda
    assert torch.equal(out.cpu(), reference_crop_flip(x, offsets.cpu(), flips.cpu(), 3))
    assert aug(x.cuda(), torch.Generator("cuda").manual_seed(0)).is_cuda
