"""Samplers, registered by name in :data:`SAMPLERS`."""
from .base import SAMPLERS, IndexSampler, Sampler, StepFeedback
from .pada import PADASampler
from .shiftnas import ShiftNASSampler
from .uniform import UniformSampler

__all__ = ["SAMPLERS", "IndexSampler", "PADASampler", "Sampler", "ShiftNASSampler", "StepFeedback", "UniformSampler"]
