"""A 3-stage CNN space: per stage kernel {3, 5}, width {0.5, 1.0} x base, depth {1, 2}.

Plain PyTorch plus nasengine.builder choices; train it with
``nasengine train --config examples/tiny_cnn.toml`` (or ``--space examples.tiny_cnn:TinyCNN``).
"""
from torch import nn

from nasengine import builder as nb


def conv_bn_relu(c_in, c_out, kernel, stride):
    return nn.Sequential(nb.Conv2d(c_in, c_out, kernel, stride), nb.BatchNorm2d(c_out), nn.ReLU())


class TinyCNN(nn.Module):
    def __init__(self, channels: int = 16, num_classes: int = 10):
        super().__init__()
        stages, c_in = [], 3
        for s in range(3):
            kernel = nb.Choice(f"s{s}.kernel", (3, 5))
            width = nb.Choice(f"s{s}.width", (0.5, 1.0)).map(lambda m, s=s: int(channels * 2 ** s * m))
            depth = nb.Choice(f"s{s}.depth", (1, 2))
            stages.append(nb.Repeat(lambda i, c_in=c_in, width=width, kernel=kernel: conv_bn_relu(
                c_in if i == 0 else width, width, kernel, 2 if i == 0 else 1), depth))
            c_in = width
        self.features = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nb.Linear(c_in, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))
