"""ImageDataset basics and the NB201-style train/valid split."""
from __future__ import annotations

import pytest
import torch

from nasengine.data import ImageDataset, split_train_valid


def test_split_sizes_disjoint_balanced_and_shuffled(make_dataset) -> None:
    ds = make_dataset(200, 10, seed=0, size=(2, 2))  # grouped by class, like the sources
    ds.images[:, 0, 0, 0] = torch.arange(200, dtype=torch.uint8)  # tag each image
    train, valid = split_train_valid(ds)
    assert len(train) == len(valid) == 100
    tags_t, tags_v = train.images[:, 0, 0, 0].long(), valid.images[:, 0, 0, 0].long()
    assert not set(tags_t.tolist()) & set(tags_v.tolist())
    assert torch.equal(torch.cat([tags_t, tags_v]).sort().values, torch.arange(200))
    assert torch.equal(train.labels, ds.labels[tags_t])
    assert train.class_counts().tolist() == valid.class_counts().tolist() == [10] * 10
    assert not torch.equal(valid.labels, valid.labels.sort().values)  # not class-grouped


def test_split_is_seeded(make_dataset) -> None:
    ds = make_dataset(100, 10, seed=0)
    a, b = split_train_valid(ds, seed=1), split_train_valid(ds, seed=1)
    assert torch.equal(a[1].images, b[1].images)
    assert not torch.equal(a[1].images, split_train_valid(ds, seed=2)[1].images)


def test_split_fractions(make_dataset) -> None:
    ds = make_dataset(100, 4, seed=0)
    train, valid = split_train_valid(ds, valid_fraction=0.2)
    assert (len(train), len(valid)) == (80, 20) and valid.class_counts().tolist() == [5] * 4
    train, valid = split_train_valid(ds, valid_fraction=0.3, stratified=False)
    assert (len(train), len(valid)) == (70, 30)
    with pytest.raises(ValueError, match="valid_fraction"):
        split_train_valid(ds, valid_fraction=1.0)


def test_mean_std_matches_a_float_computation(make_dataset) -> None:
    ds = make_dataset(64, 2, seed=3)
    x = ds.images.double() / 255
    mean, std = ds.mean_std()
    torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(torch.tensor(std, dtype=torch.float64),
                               x.std(dim=(0, 2, 3), unbiased=False))


def test_subset_and_validation(make_dataset) -> None:
    ds = make_dataset(10, 2, seed=0)
    sub = ds.subset([3, 1])
    assert torch.equal(sub.images, ds.images[[3, 1]]) and sub.labels.tolist() == [0, 0]
    assert sub.images.is_contiguous() and sub.classes == ds.classes
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(ds.images.float(), ds.labels, ds.classes)
    with pytest.raises(ValueError, match="int64"):
        ImageDataset(ds.images, ds.labels.int(), ds.classes)
    with pytest.raises(ValueError, match="class count"):
        ImageDataset(ds.images, ds.labels, ["only one"])
