"""Mask trackers: ``reset()``, ``step(frame, new_masks=None) -> {object id: mask}``, ``remove(object id)``.

:class:`FlowMaskPropagator` needs no weights (optical flow + GrabCut);
:class:`XMemTracker` runs XMem's memory network.
"""
from .flow_mask_propagator import FlowMaskPropagator
from .xmem_tracker import XMemTracker

__all__ = ['FlowMaskPropagator', 'XMemTracker']
