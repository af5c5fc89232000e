"""Data transforms registered in :data:`seg.registry.TRANSFORMS`."""
from .loading import LoadPanopticAnnotations

__all__ = ['LoadPanopticAnnotations']
