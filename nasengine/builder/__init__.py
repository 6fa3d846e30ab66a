"""Declare a search space inside a plain ``nn.Module``; the engine derives the rest.

>>> from torch import nn
>>> from nasengine import builder as nb
>>> class Net(nn.Module):
...     def __init__(self, num_classes=10):
...         super().__init__()
...         width = nb.Choice("width", (8, 16))
...         self.body = nn.Sequential(nb.Conv2d(3, width, nb.Choice("kernel", (3, 5))),
...                                   nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
...         self.head = nb.Linear(width, num_classes)
...     def forward(self, x):
...         return self.head(self.body(x))
>>> len(nb.BuilderFamily(Net).space())
4

Use ``supernet.space = "your.module:Net"`` (or register it) and every command works:
train with weight sharing or ``entangled`` slicing, rank, search, PA&DA, few-shot GM.
"""
from .family import BuilderFamily, BuiltSupernet
from .layers import BatchNorm2d, Conv2d, LayerChoice, Linear, Repeat
from .values import Choice, Derived, derive

__all__ = ["BatchNorm2d", "BuilderFamily", "BuiltSupernet", "Choice", "Conv2d", "Derived",
           "LayerChoice", "Linear", "Repeat", "derive"]
