"""Samplers, registered by name in :data:`SAMPLERS`."""
from .base import SAMPLERS, IndexSampler, Sampler, StepFeedback
from .enas import EnasSampler
from .pada import PADASampler
from .prior import ProxyPriorSampler
from .shiftnas import ShiftNASSampler
from .uniform import UniformSampler

__all__ = ["SAMPLERS", "EnasSampler", "IndexSampler", "PADASampler", "ProxyPriorSampler",
           "Sampler", "ShiftNASSampler", "StepFeedback", "UniformSampler"]
