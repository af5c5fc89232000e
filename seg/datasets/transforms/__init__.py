"""Data transforms registered in :data:`seg.registry.TRANSFORMS`."""
from .formatting import PanopticSegmentsAsInstances, SetDataTag
from .loading import LoadPanopticAnnotations

__all__ = ['LoadPanopticAnnotations', 'PanopticSegmentsAsInstances', 'SetDataTag']
