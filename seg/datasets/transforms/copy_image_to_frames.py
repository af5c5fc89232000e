"""Image → pseudo-video: copies of one image as the frames of a clip (RAP-SAM's COCO video training)."""
import copy

import numpy as np
from mmcv.transforms import BaseTransform

from seg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CopyImageToFrames(BaseTransform):
    """Turn one annotated image into a ``num_frames``-frame pseudo-video.

    Every key becomes a list of ``num_frames`` independent (deep) copies, the
    layout mmcv's ``TransformBroadcaster`` and mmdet's ``PackTrackInputs``
    expect; then each frame gets ``frame_id`` t and the thing instances
    (``gt_bboxes_labels`` order, the order of ``gt_masks``) get ids 1..n,
    the same in every frame (``gt_instances_ids``).

    Args:
        num_frames: frames of the clip (at least 2).
    """

    def __init__(self, num_frames: int = 2):
        if num_frames < 2:
            raise ValueError(f'a pseudo-video needs at least 2 frames, got num_frames={num_frames}')
        self.num_frames = num_frames

    def transform(self, results: dict) -> dict:
        if 'gt_bboxes_labels' not in results:
            raise KeyError('CopyImageToFrames needs the instances: put it after LoadPanopticAnnotations '
                           '(with_bbox=True, with_label=True)')
        frames = {key: [copy.deepcopy(value) for _ in range(self.num_frames)] for key, value in results.items()}
        num_instances = len(results['gt_bboxes_labels'])
        frames['gt_instances_ids'] = [np.arange(1, num_instances + 1, dtype=np.int64)
                                      for _ in range(self.num_frames)]
        frames['frame_id'] = list(range(self.num_frames))
        return frames

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_frames={self.num_frames})'
