"""Supernets: a space's skeleton composed with a sharing mechanism."""
from .base import Supernet
from .entangled import (EntangledBatchNorm2d, EntangledConv2d, EntangledEdge, EntangledLinear,
                        MixtureSupernet, SlicedChoice, choice_module, depth_mixture,
                        elastic_depth, extract_choice, kernel_mask, mixture_forward, width_mask)
from .sharing import SHARING, ChoiceEdge

__all__ = ["SHARING", "ChoiceEdge", "EntangledBatchNorm2d", "EntangledConv2d", "EntangledEdge",
           "EntangledLinear", "MixtureSupernet", "SlicedChoice", "Supernet", "choice_module",
           "depth_mixture", "elastic_depth", "extract_choice", "kernel_mask", "mixture_forward",
           "width_mask"]
