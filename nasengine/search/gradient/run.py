"""``nasengine search --optimizer darts|gdas``: a gradient search on real CIFAR-10 that ends
in one arch.

The method names a registered preset of :class:`GradientSearchOptions`; every default
lives in that class (and in :class:`DartsConfig` it extends), and ``--option KEY=VALUE``
overrides a field, checked by :meth:`Registry.create` like every other plugin option.
Example (about a minute on one CPU core)::

    nasengine search --optimizer darts --space macro --option channels=8 \\
        --option images=2000 --option epochs=1 --out runs/search_macro
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import torch

from ...data import BatchAugment, TensorLoader, load_cifar, split_train_valid
from ...device import resolve_device
from ...registry import Registry
from ...families import get_family
from ...validation import at_least, check_rule
from .darts import DartsConfig, DartsSearch

DEFAULT_SPACE = "macro"
"""The space a gradient search runs on without ``--space`` (any MixtureSupernet space works)."""


@dataclass
class GradientSearchOptions(DartsConfig):
    """A search's hyper-parameters (:class:`DartsConfig`) and what it trains on: a seeded
    slice of ``images`` CIFAR-10 train images (halved into weight and alpha data in
    bilevel mode) and a supernet of ``sharing`` at ``channels`` width."""

    sharing: str = "entangled"
    channels: int = 8
    images: int = 2000
    batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("channels", "images", "batch_size"):
            check_rule(f"gradient search option {name}", getattr(self, name), at_least(1))

    def search_config(self) -> DartsConfig:
        """The search's own part (what result.json records as ``config``)."""
        return DartsConfig(**{f.name: getattr(self, f.name) for f in fields(DartsConfig)})


@dataclass
class GdasOptions(GradientSearchOptions):
    """GDAS (Dong & Yang, 2019): Gumbel-softmax draws, temperature annealed 10 -> 0.1."""

    relaxation: str = "gumbel"
    temperature: float = 10.0
    temperature_end: float | None = 0.1


GRADIENT_SEARCHES: Registry[GradientSearchOptions] = Registry("gradient search")
GRADIENT_SEARCHES.register("darts")(GradientSearchOptions)
GRADIENT_SEARCHES.register("gdas")(GdasOptions)


def loaders(images: int, batch_size: int, seed: int, device: torch.device
            ) -> tuple[TensorLoader, TensorLoader]:
    """A seeded slice of the CIFAR-10 train split, halved into weight and alpha data."""
    data = load_cifar(split="train")
    keep = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:images]
    train, valid = split_train_valid(data.subset(keep), 0.5, seed=seed)
    mean, std = train.mean_std()
    return (TensorLoader(train, batch_size, augment=BatchAugment(mean, std), seed=seed,
                         device=device),
            TensorLoader(valid, batch_size, augment=BatchAugment(mean, std), seed=seed + 1,
                         device=device))


def gradient_search(method: str, out: str | Path, options: Mapping[str, Any] | None = None, *,
                    space: str | None = None, seed: int = 0, device: str = "auto",
                    threads: int | None = None) -> dict[str, Any]:
    """Run the gradient search ``method`` (``darts``, ``gdas``) and write its result to
    ``out`` (result.json, alphas.jsonl, alpha_*.png); return the result."""
    opts = GRADIENT_SEARCHES.create(method, options)
    space = space or DEFAULT_SPACE
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    family = get_family(space)
    supernet = family.build_supernet(opts.sharing, channels=opts.channels)
    where = resolve_device(device)
    search = DartsSearch(supernet, opts.search_config(), seed=seed, device=where)
    train, valid = loaders(opts.images, opts.batch_size, seed, where)
    search.fit(train, valid if opts.mode == "bilevel" else None)
    arch = search.arch()
    return search.write(out, {"space": space, "sharing": opts.sharing, "channels": opts.channels,
                              "images": opts.images,
                              **family.complexity(arch, channels=opts.channels)})
