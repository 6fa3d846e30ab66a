"""nasengine: one-shot neural architecture search with measurable ranking fidelity."""
from __future__ import annotations

from .errors import (CheckpointError, ConfigError, DataError, NasEngineError, SpaceError,
                     TrainingError)
from .space import Categorical, Sample, SearchSpace

__version__ = "0.1.0"

__all__ = ["Categorical", "CheckpointError", "ConfigError", "DataError", "NasEngineError",
           "Sample", "SearchSpace", "SpaceError", "TrainingError", "__version__"]
