"""Samplers, registered by name in :data:`SAMPLERS`."""
from .base import SAMPLERS, IndexSampler, Sampler, StepFeedback
from .uniform import UniformSampler

__all__ = ["SAMPLERS", "IndexSampler", "Sampler", "StepFeedback", "UniformSampler"]
