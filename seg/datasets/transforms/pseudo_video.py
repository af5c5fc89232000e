"""Clips for RapSAM's video training: image → pseudo-video copies, void semantic maps, clip packing.

The COCO panoptic "pseudo-video" of RAP-SAM is a pipeline of mmdet/mmcv parts
around :class:`CopyImageToFrames`::

    LoadImageFromFile → LoadPanopticAnnotations → CopyImageToFrames(num_frames=2)
    → TransformBroadcaster(share_random_params=True, [RandomFlip, RandomResize])
    → TransformBroadcaster(share_random_params=False, [RandomCrop])
    → PackVideoSegInputs

so the frames share flip and scale and are cropped independently (an object can
leave one frame and stay in the other; its instance id links the two).
"""
import copy

import numpy as np
from mmcv.transforms import BaseTransform, to_tensor
from mmdet.datasets.transforms import PackTrackInputs
from mmdet.structures.bbox import BaseBoxes
from mmengine.structures import PixelData

from seg.registry import TRANSFORMS

# Label of unannotated pixels in ``gt_seg_map`` (mmdet's panoptic VOID).
VOID = 255


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


@TRANSFORMS.register_module()
class AddVoidSemSeg(BaseTransform):
    """Give a frame without stuff annotation an all-void ``gt_seg_map`` ((H, W) uint8, 255).

    Video instance datasets (YouTube-VIS) annotate things only; with a void map
    their clips carry the same fields as pseudo-video COCO clips, so the two
    can share a batch (the data preprocessor pads ``gt_sem_seg`` for all
    samples or none). Put it after loading, before geometric transforms.
    """

    def transform(self, results: dict) -> dict:
        results['gt_seg_map'] = np.full(results['img'].shape[:2], VOID, dtype=np.uint8)
        return results


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
