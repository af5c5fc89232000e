"""Annotation loading transforms that need no panopticapi."""
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.datasets.transforms import LoadPanopticAnnotations as MMDetLoadPanopticAnnotations

from seg.fileio.panoptic_png import rgb2id
from ...registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadPanopticAnnotations(MMDetLoadPanopticAnnotations):
    """mmdet's ``LoadPanopticAnnotations`` decoding PNG ids with our :func:`rgb2id`.

    Same arguments and outputs as mmdet 3.3.0's: ``gt_bboxes``,
    ``gt_bboxes_labels`` and ``gt_ignore_flags`` from ``instances``;
    ``gt_masks`` (BitmapMasks of the non-crowd thing segments, in
    ``segments_info`` order, each (H, W) uint8) and ``gt_seg_map`` ((H, W),
    the segment's contiguous ``category`` per pixel, 255 elsewhere) from the
    RGB-encoded PNG at ``seg_map_path``.

    Args:
        with_bbox: Load ``gt_bboxes``.
        with_label: Load ``gt_bboxes_labels``.
        with_mask: Load ``gt_masks``.
        with_seg: Load ``gt_seg_map``.
        box_type: Box mode wrapping the boxes.
        imdecode_backend: ``mmcv.imfrombytes`` backend.
        backend_args: File backend arguments.
    """

    def __init__(self,
                 with_bbox: bool = True,
                 with_label: bool = True,
                 with_mask: bool = True,
                 with_seg: bool = True,
                 box_type: str = 'hbox',
                 imdecode_backend: str = 'cv2',
                 backend_args: dict = None) -> None:
        # mmdet's __init__ only adds importing panopticapi's rgb2id to this.
        self.rgb2id = rgb2id
        LoadAnnotations.__init__(
            self,
            with_bbox=with_bbox,
            with_label=with_label,
            with_mask=with_mask,
            with_seg=with_seg,
            with_keypoints=False,
            box_type=box_type,
            imdecode_backend=imdecode_backend,
            backend_args=backend_args)
