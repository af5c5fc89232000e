"""RapSAM: one real-time model for panoptic, video instance and prompted segmentation."""
from typing import Dict, List, Tuple

import torch.nn.functional as F
from mmdet.models.detectors import BaseDetector
from mmdet.structures import SampleList, TrackDataSample
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from seg.models.rapsam.rapsam_video_head import uses_prompts
from seg.registry import MODELS


@MODELS.register_module()
class RapSAM(BaseDetector):
    """Backbone → neck (one stride-4 map) → :class:`RapSAMVideoHead` → fusion head.

    Inputs are images (B, 3, H, W) with ``DetDataSample``s or clips
    (B, T, 3, H, W) with ``TrackDataSample``s; the frames of a clip go through the
    backbone as one batch and share the head's queries. A batch whose samples
    carry ``gt_instances_collected`` (prompt boxes) is decoded with prompt
    queries: one mask per prompt.

    Args:
        backbone, neck, panoptic_head, panoptic_fusion_head: component configs.
        train_cfg: handed to the head (matching, point sampling).
        test_cfg: handed to the head and the fusion head (``panoptic_on``,
            ``instance_on``, ``max_per_image``, ``iou_thr``, ``object_mask_thr``,
            ``filter_low_score``).
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 panoptic_head: ConfigType,
                 panoptic_fusion_head: ConfigType,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None):
        if isinstance(data_preprocessor, dict):
            # Built from our registry, so it resolves without a Runner's default scope.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.panoptic_head = MODELS.build(dict(panoptic_head, train_cfg=train_cfg, test_cfg=test_cfg))
        self.panoptic_fusion_head = MODELS.build(dict(panoptic_fusion_head, test_cfg=test_cfg))
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) or (B, T, 3, H, W) normalised images → (B·T, C, H/4, W/4) features."""
        if inputs.dim() == 5:
            inputs = inputs.flatten(0, 1)
        return self.neck(self.backbone(inputs))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict[str, Tensor]:
        """Head losses for a batch of images, clips or prompted images."""
        return self.panoptic_head.loss(self.extract_feat(inputs), data_samples)

    def _forward(self, inputs: Tensor, data_samples: SampleList = None) -> Tuple[List[Tensor], ...]:
        """Raw head outputs (per-stage class logits, mask logits, IoU; final queries)."""
        return self.panoptic_head(self.extract_feat(inputs), data_samples)

    def predict(self, inputs: Tensor, data_samples: SampleList, rescale: bool = True) -> SampleList:
        """Attach results to the data samples.

        Images get ``pred_panoptic_seg`` (stuff = class id, thing = class +
        1000·instance id, void = number of classes) and ``pred_instances``;
        frames of clips get ``pred_track_panoptic_seg`` and
        ``pred_track_instances`` (``instances_id`` = query · classes + label + 1,
        the same object in every frame); prompted images get ``pred_instances.masks``
        (K, H, W) bool and ``pred_instances.ious`` (K,), one per prompt.
        Masks are at ``ori_shape`` when ``rescale``, else at ``img_shape``.
        """
        return self.predict_from_features(self.extract_feat(inputs), data_samples, rescale)

    def predict_from_features(self, feats: Tensor, data_samples: SampleList, rescale: bool = True) -> SampleList:
        """:meth:`predict` on neck features (B·T, C, H/4, W/4) instead of images."""
        if uses_prompts(data_samples) and len(data_samples[0].gt_instances_collected) == 0:
            return data_samples
        cls_logits, mask_logits, ious, _ = self.panoptic_head.predict(feats, data_samples)
        if uses_prompts(data_samples):
            return self._add_prompt_results(mask_logits, ious, data_samples, rescale)
        if isinstance(data_samples[0], TrackDataSample):
            for t in range(mask_logits.shape[2]):
                frames = [sample[t] for sample in data_samples]
                for frame, result in zip(frames, self.panoptic_fusion_head.predict(
                        cls_logits, mask_logits[:, :, t], frames, rescale=rescale)):
                    if 'pan_results' in result:
                        frame.pred_track_panoptic_seg = result['pan_results']
                    if 'ins_results' in result:
                        instances = result['ins_results']
                        # One id per (query, class): a query may be in the top-k with two classes.
                        num_classes = self.panoptic_head.num_classes
                        instances.instances_id = instances.queries * num_classes + instances.labels + 1
                        frame.pred_track_instances = instances
            return data_samples
        for sample, result in zip(data_samples, self.panoptic_fusion_head.predict(
                cls_logits, mask_logits, data_samples, rescale=rescale)):
            if 'pan_results' in result:
                sample.pred_panoptic_seg = result['pan_results']
            if 'ins_results' in result:
                sample.pred_instances = result['ins_results']
        return data_samples

    @staticmethod
    def _add_prompt_results(mask_logits: Tensor, ious: Tensor, data_samples: SampleList,
                            rescale: bool) -> SampleList:
        for logits, iou, sample in zip(mask_logits, ious, data_samples):
            logits = crop_and_rescale(logits, sample.metainfo, rescale)
            sample.pred_instances = InstanceData(masks=logits > 0, ious=iou[:, 0])
        return data_samples


def crop_and_rescale(logits: Tensor, metainfo: dict, rescale: bool) -> Tensor:
    """(N, H_in, W_in) logits at the padded input size → cropped to ``img_shape``, then
    bilinearly resized to ``ori_shape`` when ``rescale`` (as MaskFormer's fusion head does)."""
    height, width = metainfo['img_shape'][:2]
    logits = logits[:, :height, :width]
    if rescale:
        logits = F.interpolate(logits[None], size=metainfo['ori_shape'][:2], mode='bilinear',
                               align_corners=False)[0]
    return logits
