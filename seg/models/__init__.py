"""FastSAM2 models; importing registers them in ``seg.registry.MODELS``.

One folder per model family (``fastsam2/``, ``rapsam/``, ``xmem/``, ``tmo/``, ``e2fgvi/``, ``propainter/``,
``flow/``) for what that family owns; role folders (``layers/``, ``losses/``,
``inpainters/``, ``segmenters/``, ``trackers/``, ``data_preprocessors/``, ``wrappers/``, ``utils/``) only for
parts two or more families share.  ``ext/`` stands alone: its components are
registered here.
"""
from ext.sam import PromptEncoder
from seg.registry import MODELS
from . import (data_preprocessors, e2fgvi, fastsam2, flow, inpainters, layers, losses, propainter, rapsam,  # noqa: F401
               segmenters, tmo, trackers, wrappers, xmem)

MODELS.register_module(module=PromptEncoder)
