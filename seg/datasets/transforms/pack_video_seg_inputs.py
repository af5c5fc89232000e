"""Clip packing for RapSAM's video training (the last step of its pseudo-video pipeline).

The COCO panoptic "pseudo-video" of RAP-SAM is a pipeline of mmdet/mmcv parts
around :class:`CopyImageToFrames`::

    LoadImageFromFile → LoadPanopticAnnotations → CopyImageToFrames(num_frames=2)
    → TransformBroadcaster(share_random_params=True, [RandomFlip, RandomResize])
    → TransformBroadcaster(share_random_params=False, [RandomCrop])
    → PackVideoSegInputs

so the frames share flip and scale and are cropped independently (an object can
leave one frame and stay in the other; its instance id links the two).
"""
import numpy as np
from mmcv.transforms import to_tensor
from mmdet.datasets.transforms import PackTrackInputs
from mmdet.structures.bbox import BaseBoxes
from mmengine.structures import PixelData

from seg.registry import TRANSFORMS

# Label of unannotated pixels in ``gt_seg_map`` (mmdet's panoptic VOID).
VOID = 255


@TRANSFORMS.register_module()
class PackVideoSegInputs(PackTrackInputs):
    """mmdet's ``PackTrackInputs`` that also packs box objects and each frame's ``gt_seg_map``.

    Gives ``inputs`` (T, 3, H, W) and a ``TrackDataSample`` whose frames hold
    ``gt_instances`` (``bboxes``, ``labels``, ``masks``, ``instances_ids``;
    crowd instances in ``ignored_instances``) and, when the pipeline made one,
    ``gt_sem_seg`` (``sem_seg`` (1, H, W): thing and stuff class ids, 255
    void) — what ``RapSAMVideoHead.loss`` reads. ``PackTrackInputs`` itself
    cannot pack the ``HorizontalBoxes`` that mmdet's loaders make (it calls
    ``to_tensor`` on them); here they are split like the masks.

    Args:
        meta_keys: extra meta keys, added to ``PackTrackInputs``' defaults.
    """

    def transform(self, results: dict) -> dict:
        boxes = results.get('gt_bboxes')
        box_objects = bool(boxes) and isinstance(boxes[0], BaseBoxes)
        if box_objects:
            results = {key: value for key, value in results.items() if key != 'gt_bboxes'}
        packed = super().transform(results)
        for t, frame in enumerate(packed['data_samples']):
            if box_objects:
                ignore = np.asarray(results['gt_ignore_flags'][t], dtype=bool) if 'gt_ignore_flags' in results \
                    else np.zeros(len(boxes[t]), dtype=bool)
                frame.gt_instances.bboxes = boxes[t][np.where(~ignore)[0]]
                frame.ignored_instances.bboxes = boxes[t][np.where(ignore)[0]]
            if 'gt_seg_map' in results:
                frame.gt_sem_seg = PixelData(sem_seg=to_tensor(np.ascontiguousarray(results['gt_seg_map'][t][None])))
        return packed
