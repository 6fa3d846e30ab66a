"""Uniform single-path sampling (SPOS / RSPS): every choice equally likely, every step."""
from __future__ import annotations

from ..space import Sample
from .base import SAMPLERS, Sampler


@SAMPLERS.register("uniform")
class UniformSampler(Sampler):
    """Draws each decision independently and uniformly."""

    def sample(self) -> Sample:
        return self.space.sample(self.rng)
