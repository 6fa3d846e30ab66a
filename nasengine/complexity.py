"""Parameter and FLOP counts of a stand-alone network.

FLOPs follow NB201's convention: multiply-accumulates of convolutions and
linear layers (linear bias included); pooling, BN and ReLU are not counted.
"""
from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass of a single input, measured with hooks."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += output[0].numel() * (kernel + (1 if module.bias is not None else 0))

    def linear_hook(module: nn.Linear, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += module.out_features * (module.in_features + (1 if module.bias is not None else 0))

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules()
              if isinstance(m, nn.Linear)]
    was_training = model.training
    try:
        model.eval()
        model(torch.zeros(input_shape))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return total


def count_complexity(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, float]:
    return {"params": count_params(model), "flops": count_flops(model, input_shape)}
