"""A custom space end to end, judged by a ground truth built for it (RESULTS §10).

The worked example (examples/tiny_cnn.py, 512 archs) on scikit-learn's 8×8 digits
(``--data digits``) or on 10,000 CIFAR-10 images (``--data cifar10``):
(1) train the stand-alone net of ``--archs`` seeded archs from scratch and write their
    test accuracy as a generic ground-truth CSV keyed by the space's own arch strings;
(2) train the supernet (weight sharing and entangled) with ``examples/tiny_cnn.toml`` on
    the same data and rank those archs against that CSV (``evaluate.oracle``), beside
    the #params proxy. Wall times are for one busy CPU core.

Reproduce (about 10 CPU-minutes at the defaults; ``--data cifar10`` about 30):
    python benchmarks/bench_custom_space.py --threads 1
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
SPACE = "examples.tiny_cnn:TinyCNN"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", type=int, default=32, help="archs ranked (seeded sample)")
    p.add_argument("--epochs", type=int, default=15, help="stand-alone training epochs")
    p.add_argument("--supernet-epochs", type=int, default=30)
    p.add_argument("--data", choices=("digits", "cifar10"), default="digits")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/custom_space")
    return p.parse_args(argv)


def config(args: argparse.Namespace, data: Path, sharing: str, oracle: Path | None = None):
    from nasengine.config import load_config

    sets = [f'supernet.space="{SPACE}"', f'supernet.sharing="{sharing}"',
            f"train.epochs={args.supernet_epochs}", f"evaluate.n_archs={args.archs}",
            f"threads={args.threads}", 'device="cpu"', f'evaluate.oracle_dataset="{args.data}"']
    sets += ([f'data.dataset="tensors"', f'data.source="{data}"', "data.augment=false",
              "evaluate.eval_images=360", "train.batch_size=64"] if args.data == "digits"
             else ["evaluate.eval_images=2000"])  # cifar10: the toml's 10,000 train images
    if oracle:
        sets.append(f'evaluate.oracle="{oracle}"')
    return load_config(str(ROOT / "examples" / "tiny_cnn.toml"), sets)


def train_standalone(pipe, arch, epochs: int, seed: int = 0) -> float:
    """Test accuracy (%) of ``arch``'s network trained from scratch (SGD, cosine, 64/batch)."""
    torch.manual_seed(seed)
    net = pipe.family.standalone(arch, **pipe.options)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    loader = pipe.train_loader()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * len(loader))
    net.train()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y, _ in loader:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        batches = pipe.heldout_batches()
        correct = sum(int((net(x).argmax(1) == y).sum()) for x, y in batches)
    return 100.0 * correct / sum(len(y) for _, y in batches)


def ground_truth(args: argparse.Namespace, data: Path, out: Path) -> Path:
    from nasengine import api

    path = out / "truth.csv"
    if path.exists():
        return path
    pipe = api.build(config(args, data, "weight_sharing"), progress=False)
    partial = out / "truth.partial.jsonl"  # one line per trained arch: an interrupted run resumes
    done = [json.loads(line) for line in partial.read_text().splitlines()] \
        if partial.exists() else []
    rows, start = [tuple(r) for r in done], time.perf_counter()
    for i, arch in enumerate(pipe.arch_sample()[len(rows):], start=len(rows)):
        acc = train_standalone(pipe, arch, args.epochs)
        rows.append((pipe.space.format(arch), acc, pipe.complexity(arch)["params"] / 1e6))
        with partial.open("a") as f:
            f.write(json.dumps(rows[-1]) + "\n")
        print(f"[{i + 1}/{args.archs}] {rows[-1][0]}: {acc:.2f}%  ({time.perf_counter() - start:.0f} s)")
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", f"{args.data}_test_acc", "params_M"])
        writer.writerows(rows)
    print(f"stand-alone training: {time.perf_counter() - start:.0f} s for {len(rows)} archs")
    return path


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from examples.digits import write_digits
    from nasengine import api

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = write_digits(out / "digits.pt") if args.data == "digits" else None
    truth = ground_truth(args, data, out)
    print("| sharing | supernet params | train s | Kendall tau | Spearman rho | #params tau "
          "| top-1 pick true acc | best true acc |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for sharing in ("weight_sharing", "entangled"):
        cfg = config(args, data, sharing, truth)
        start = time.perf_counter()
        pipe = api.train(cfg, out / sharing, progress=False)
        seconds = time.perf_counter() - start
        report = api.rank(cfg, out / sharing, progress=False, pipe=pipe)
        s, p = report["supernet"], report["params_proxy"]
        params = sum(t.numel() for t in pipe.supernet.parameters())
        print(f"| {sharing} | {params:,} | {seconds:.0f} | {s['kendall_tau']:+.3f} | "
              f"{s['spearman_rho']:+.3f} | {p['kendall_tau']:+.3f} | {s['top1_true_acc']:.2f} | "
              f"{pipe.ground_truth.best():.2f} |")


if __name__ == "__main__":
    main()
