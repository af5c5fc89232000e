"""Data transforms registered in :data:`seg.registry.TRANSFORMS`."""
from .add_void_sem_seg import AddVoidSemSeg
from .copy_image_to_frames import CopyImageToFrames
from .load_panoptic_annotations import LoadPanopticAnnotations
from .pack_referring_inputs import PackReferringInputs
from .pack_video_seg_inputs import PackVideoSegInputs
from .panoptic_segments_as_instances import PanopticSegmentsAsInstances
from .sample_interactive_prompts import SampleInteractivePrompts
from .set_data_tag import SetDataTag

__all__ = ['AddVoidSemSeg', 'CopyImageToFrames', 'LoadPanopticAnnotations', 'PackReferringInputs',
           'PackVideoSegInputs', 'PanopticSegmentsAsInstances', 'SampleInteractivePrompts', 'SetDataTag']
