"""Exceptions that name the problem and the fix.

Every user-facing failure derives from :class:`NasEngineError`, so the CLI can
print one clear line instead of a traceback.
"""
from __future__ import annotations


class NasEngineError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class SpaceError(NasEngineError, ValueError):
    """A malformed, unknown or out-of-space architecture or space definition."""


class DataError(NasEngineError, FileNotFoundError):
    """A missing or corrupt data file."""


class CheckpointError(NasEngineError):
    """A corrupt checkpoint, or one from another space or configuration."""


class TrainingError(NasEngineError, RuntimeError):
    """Training diverged (NaN/inf loss) or cannot proceed."""


class ConfigError(NasEngineError, ValueError):
    """An invalid configuration value or file."""


class RunFolderError(NasEngineError):
    """A run folder in use by another process, or holding a run that would be overwritten."""
