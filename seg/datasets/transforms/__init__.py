"""Data transforms registered in :data:`seg.registry.TRANSFORMS`."""
from .formatting import PanopticSegmentsAsInstances, SetDataTag
from .loading import LoadPanopticAnnotations
from .pseudo_video import AddVoidSemSeg, CopyImageToFrames, PackVideoSegInputs

__all__ = ['AddVoidSemSeg', 'CopyImageToFrames', 'LoadPanopticAnnotations', 'PackVideoSegInputs',
           'PanopticSegmentsAsInstances', 'SetDataTag']
