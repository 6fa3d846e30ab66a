"""Supernets: a space's skeleton composed with a sharing mechanism."""
from .base import Supernet
from .sharing import SHARING, ChoiceEdge

__all__ = ["SHARING", "ChoiceEdge", "Supernet"]
