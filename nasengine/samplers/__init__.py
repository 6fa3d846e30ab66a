"""Samplers, registered by name in :data:`SAMPLERS`."""
from .base import SAMPLERS, IndexSampler, Sampler, StepFeedback
from .enas import EnasSampler
from .pada import PADASampler
from .shiftnas import ShiftNASSampler
from .uniform import UniformSampler

__all__ = ["SAMPLERS", "EnasSampler", "IndexSampler", "PADASampler", "Sampler",
           "ShiftNASSampler", "StepFeedback", "UniformSampler"]
