"""``python -m nasengine.search``: a DARTS-style search on real CIFAR-10, ending in one arch.

Example (about a minute on one CPU core)::

    python -m nasengine.search --space macro --channels 8 --images 2000 --epochs 1 \\
        --out runs/search_macro
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from ..data import BatchAugment, TensorLoader, load_cifar, split_train_valid
from ..device import resolve_device
from ..errors import NasEngineError
from ..spaces import get_family
from .darts import MODES, DartsConfig, DartsSearch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m nasengine.search",
                                description=__doc__.split("\n")[0])
    p.add_argument("--space", default="macro")
    p.add_argument("--sharing", default="entangled")
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--images", type=int, default=2000, help="CIFAR-10 train images used "
                   "(half for weights, half for alpha in bilevel mode)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--mode", choices=MODES, default="bilevel")
    p.add_argument("--relaxation", default="softmax")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--temperature-end", type=float, default=None)
    p.add_argument("--alpha-lr", type=float, default=3e-3)
    p.add_argument("--k-forward", action="store_true", help="DARTS-style K forwards per "
                   "mixed op instead of the one-pass weight mixture")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    try:
        family = get_family(args.space)
        supernet = family.build_supernet(args.sharing, channels=args.channels)
        config = DartsConfig(epochs=args.epochs, mode=args.mode, relaxation=args.relaxation,
                             temperature=args.temperature, temperature_end=args.temperature_end,
                             alpha_lr=args.alpha_lr, one_pass=not args.k_forward)
        device = resolve_device(args.device)
        search = DartsSearch(supernet, config, seed=args.seed, device=device)
        train, valid = loaders(args.images, args.batch_size, args.seed, device)
        search.fit(train, valid if args.mode == "bilevel" else None)
        arch = search.arch()
        result = search.write(args.out, {"space": args.space, "sharing": args.sharing,
                                          "channels": args.channels, "images": args.images,
                                          **family.complexity(arch, channels=args.channels)})
    except NasEngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({k: result[k] for k in ("arch_string", "params", "flops")}, indent=1))
    print(f"history: {json.dumps(result['history'][-1], default=str)[:300]}")
    print(f"outputs: {args.out}/result.json, alphas.jsonl, {', '.join(result['plots'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
