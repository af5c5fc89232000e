"""FastSAM2 models, one folder per role; importing registers them in ``seg.registry.MODELS``."""
from . import layers  # noqa: F401
