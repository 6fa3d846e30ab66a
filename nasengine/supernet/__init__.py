"""Supernets: a space's skeleton composed with a sharing mechanism."""
from .base import Edge, MixtureSupernet, Supernet
from .depth import depth_mixture, elastic_depth
from .entangled import EntangledEdge
from .layers import EntangledBatchNorm2d, EntangledConv2d, EntangledLinear
from .masks import kernel_mask, marginal, width_mask
from .sharing import SHARING, ChoiceEdge, SlicedChoice

__all__ = ["SHARING", "ChoiceEdge", "Edge", "EntangledBatchNorm2d", "EntangledConv2d",
           "EntangledEdge", "EntangledLinear", "MixtureSupernet", "SlicedChoice", "Supernet",
           "depth_mixture", "elastic_depth", "kernel_mask", "marginal", "width_mask"]
