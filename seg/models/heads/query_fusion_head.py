"""MaskFormer panoptic/instance post-processing that also reports which query made each instance."""
import torch
import torch.nn.functional as F
from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from torch import Tensor

from seg.registry import MODELS


@MODELS.register_module()
class QueryFusionHead(MaskFormerFusionHead):
    """mmdet's ``MaskFormerFusionHead`` whose instances carry ``queries`` (the query index of each).

    Video models use the query index as the track id: a query keeps its object
    across the frames of a clip.
    """

    def instance_postprocess(self, mask_cls: Tensor, mask_pred: Tensor) -> InstanceData:
        """Top ``max_per_image`` (query, thing class) pairs of one image.

        Args:
            mask_cls: (N, C+1) class logits, background last.
            mask_pred: (N, H, W) mask logits at output resolution.

        Returns:
            InstanceData with ``labels``, ``scores`` (class prob × mean foreground
            sigmoid), ``masks`` (logit > 0), ``bboxes`` (xyxy, exclusive max) and
            ``queries``, in ``topk`` order.
        """
        max_per_image = self.test_cfg.get('max_per_image', 100)
        scores = F.softmax(mask_cls, dim=-1)[:, :-1]
        top_scores, top_indices = scores.flatten().topk(min(max_per_image, scores.numel()), sorted=False)
        labels = top_indices % self.num_classes
        queries = torch.div(top_indices, self.num_classes, rounding_mode='floor')
        is_thing = labels < self.num_things_classes
        top_scores, labels, queries = top_scores[is_thing], labels[is_thing], queries[is_thing]
        logits = mask_pred[queries]
        binary = (logits > 0).float()
        mask_scores = (logits.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
        masks = binary.bool()
        return InstanceData(bboxes=mask2bbox(masks), labels=labels, scores=top_scores * mask_scores, masks=masks,
                            queries=queries)
