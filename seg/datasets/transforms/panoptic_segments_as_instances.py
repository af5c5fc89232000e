"""Panoptic segments as mmdet instances, for RapSAM's object and prompt queries."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

from seg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PanopticSegmentsAsInstances(BaseTransform):
    """Add every stuff region of ``gt_seg_map`` to the instances (class-agnostic "COCO-SAM" segments).

    After ``LoadPanopticAnnotations`` the things are instances and the stuff
    only lives in the semantic map; prompted training and evaluation click on
    any segment, so each stuff class present becomes one more instance (mask,
    tight box, label, not ignored). Run it before geometric transforms or
    after — masks, boxes and the map stay aligned either way.

    Args:
        num_things: classes below this id are things (already instances).
        ignore_index: void value of the semantic map.
    """

    def __init__(self, num_things: int, ignore_index: int = 255):
        self.num_things = num_things
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        if 'gt_seg_map' not in results or 'gt_masks' not in results:
            raise KeyError('PanopticSegmentsAsInstances needs gt_seg_map and gt_masks: put it after '
                           'LoadPanopticAnnotations(with_mask=True, with_seg=True)')
        seg_map = results['gt_seg_map']
        stuff = [c for c in np.unique(seg_map) if self.num_things <= c != self.ignore_index]
        if not stuff:
            return results
        height, width = seg_map.shape
        stuff_masks = np.stack([seg_map == c for c in stuff]).astype(np.uint8)
        boxes = []
        for mask in stuff_masks:
            rows, cols = np.nonzero(mask)
            boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
        thing_masks = results['gt_masks'].masks.reshape(-1, height, width).astype(np.uint8)
        results['gt_masks'] = BitmapMasks(np.concatenate([thing_masks, stuff_masks]), height, width)
        old_boxes = results['gt_bboxes']
        new_boxes = np.asarray(boxes, dtype=np.float32)
        if isinstance(old_boxes, HorizontalBoxes):
            results['gt_bboxes'] = old_boxes.cat([old_boxes, HorizontalBoxes(new_boxes)])
        else:
            results['gt_bboxes'] = np.concatenate([old_boxes.reshape(-1, 4), new_boxes])
        results['gt_bboxes_labels'] = np.concatenate(
            [results['gt_bboxes_labels'], np.asarray(stuff, dtype=results['gt_bboxes_labels'].dtype)])
        results['gt_ignore_flags'] = np.concatenate(
            [results['gt_ignore_flags'], np.zeros(len(stuff), dtype=bool)])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(num_things={self.num_things}, ignore_index={self.ignore_index})'
