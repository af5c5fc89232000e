"""Optical flow estimators and warping; importing registers them in ``seg.registry.MODELS``."""
from .flow_warp import flow_warp
from .spynet import SPyNet

__all__ = ['SPyNet', 'flow_warp']
