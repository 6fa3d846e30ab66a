"""Data: CIFAR readers, an in-memory dataset, batch augmentation and a device loader.

>>> from nasengine.data import load_cifar, split_train_valid
>>> train, valid = split_train_valid(load_cifar(split="train"))  # doctest: +SKIP
"""
from __future__ import annotations

from .augment import BatchAugment
from .cifar import CIFAR_DOWNLOADS, download_cifar, load_cifar
from .dataset import ImageDataset, split_train_valid
from .loader import IndexSampler, TensorLoader, epoch_generator
from .readers import CIFAR10_CLASSES, class_order
from .tensors import DATASETS, load_dataset, load_tensors, save_tensors

__all__ = ["CIFAR10_CLASSES", "CIFAR_DOWNLOADS", "DATASETS", "BatchAugment", "ImageDataset",
           "IndexSampler", "TensorLoader", "class_order", "download_cifar", "epoch_generator",
           "load_cifar", "load_dataset", "load_tensors", "save_tensors", "split_train_valid"]
