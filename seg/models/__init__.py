"""FastSAM2 models, one folder per role; importing registers them in ``seg.registry.MODELS``."""
from . import data_preprocessors, detectors, flow, heads, inpainters, layers, losses, necks, vos, wrappers  # noqa: F401
import ext.sam  # noqa: F401,E402  (SAM's prompt encoder registers in MODELS)
