"""Bundled search-space families; importing this registers them in ``nasengine.families.SPACES``."""
from . import macro, nb201  # noqa: F401
