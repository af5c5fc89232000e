"""MaskFormer panoptic/instance post-processing that also reports which query made each instance."""
from typing import Tuple

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
        top_scores, labels, queries = top_thing_queries(mask_cls, self.test_cfg.get('max_per_image', 100),
                                                        self.num_things_classes, sorted=False)
        masks, mask_scores = binary_masks_and_scores(mask_pred[queries])
        return InstanceData(bboxes=mask2bbox(masks), labels=labels, scores=top_scores * mask_scores, masks=masks,
                            queries=queries)


def top_thing_queries(mask_cls: Tensor, max_per_image: int, num_things: int,
                      sorted: bool = True) -> Tuple[Tensor, Tensor, Tensor]:
    """The top ``max_per_image`` (query, class) pairs by class probability, things only.

    Args:
        mask_cls: (N, C+1) class logits, background last.
        max_per_image: pairs taken before the stuff classes are dropped.
        num_things: classes below this id are things.
        sorted: order by score (``topk``'s ``sorted``; MaskFormer uses False).

    Returns:
        probabilities (K,), labels (K,) and query indices (K,).
    """
    scores = F.softmax(mask_cls, dim=-1)[:, :-1]
    num_classes = scores.shape[1]
    top_scores, top_indices = scores.flatten().topk(min(max_per_image, scores.numel()), sorted=sorted)
    labels = top_indices % num_classes
    queries = torch.div(top_indices, num_classes, rounding_mode='floor')
    is_thing = labels < num_things
    return top_scores[is_thing], labels[is_thing], queries[is_thing]


def binary_masks_and_scores(logits: Tensor) -> Tuple[Tensor, Tensor]:
    """(K, H, W) mask logits → masks (logit > 0, bool) and (K,) mean sigmoid inside each (0 when empty)."""
    binary = (logits > 0).float()
    scores = (logits.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    return binary.bool(), scores
