"""A void semantic map for samples without one."""
import numpy as np
from mmcv.transforms import BaseTransform

from seg.registry import TRANSFORMS
from .pack_video_seg_inputs import VOID


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
