"""Referring segmentation quality (RefCOCO, RefCOCO+, RefCOCOg): cIoU, mIoU and prec@t.

Registered as ``ReferringMetric`` in :data:`seg.registry.METRICS`. Every referring expression (a
data sample's prompt) is one ref; with I and U the pixel counts of the intersection and the union of
its predicted and ground-truth masks, the results (under the prefix ``refcoco/``) are, as in
RefCOCO's papers (LAVT, CRIS, ReLA):

* ``cIoU`` (cumulative, or overall, IoU): sum of I over all refs / sum of U over all refs, so large
  objects weigh more;
* ``mIoU``: the mean over refs of each ref's I / U, every ref weighing the same;
* ``prec@0.5``, ... (``thresholds``): the fraction of refs whose IoU is at least the threshold.

A ref whose masks are both empty has IoU 1 (RefCOCO's ground truth is never empty).
"""
import logging
import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from torch import Tensor

from ...registry import METRICS


def intersection_union(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """Pixel counts of each mask pair's intersection and union.

    Args:
        pred_masks: (K, H, W) bool.
        gt_masks: (K, H, W) bool, on the same device.

    Returns:
        (K, 2) int64: intersection, union per pair.
    """
    pred, gt = pred_masks.flatten(1), gt_masks.flatten(1)
    return torch.stack([(pred & gt).sum(dim=1), (pred | gt).sum(dim=1)], dim=1).long()


def _masks(sample: dict, field: str, name: str) -> Tensor:
    """``sample[field]['masks']`` (a tensor, an ndarray or mmdet ``BitmapMasks``) as a (K, H, W) bool tensor."""
    if field not in sample or 'masks' not in sample[field]:
        raise KeyError(f'{name} has no {field}.masks (ReferringMetric reads pred_instances.masks and '
                       'gt_instances.masks)')
    masks = sample[field]['masks']
    if hasattr(masks, 'to_ndarray'):
        masks = masks.to_ndarray()
    if isinstance(masks, np.ndarray):
        masks = torch.from_numpy(masks)
    if not isinstance(masks, Tensor):
        raise TypeError(f'{name}: {field}.masks must be a tensor, an ndarray or BitmapMasks, '
                        f'got {type(masks).__name__}')
    if masks.is_floating_point():
        raise TypeError(f'{name}: {field}.masks must be binary (bool or integer), got {masks.dtype}: '
                        'threshold the scores first')
    if masks.ndim != 3:
        raise ValueError(f'{name}: {field}.masks must be (K, H, W) with K = 1 per referring expression, '
                         f'got shape {tuple(masks.shape)}')
    return masks.bool()


@METRICS.register_module()
class ReferringMetric(BaseMetric):
    """cIoU, mIoU and prec@t of referring segmentation, one predicted mask per referring expression.

    Each data sample (a dict, as :class:`mmengine.evaluator.Evaluator` passes them on) holds

    * ``pred_instances['masks']``: (K, H, W) bool, the model's mask per expression (K = 1 for
      RefCOCO's one sentence per sample);
    * ``gt_instances['masks']``: (K, H, W) bool, tensor, ndarray or ``BitmapMasks``, the referred
      objects, in the same order,

    both at the same size (the original image's: load the annotations after ``Resize`` in the test
    pipeline, as ``RefCOCODataset``'s description shows). Other shapes are an error, not resized.

    Args:
        thresholds: IoU thresholds t of the ``prec@t`` results.
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering across ranks.
        prefix: Prefix of the result names; default ``'refcoco'``.
    """
    default_prefix: Optional[str] = 'refcoco'

    def __init__(self,
                 thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not all(0 < t <= 1 for t in thresholds):
            raise ValueError(f'IoU thresholds must lie in (0, 1], got {list(thresholds)}')
        self.thresholds = tuple(float(t) for t in thresholds)

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store each sample's (K, 2) int64 intersection and union pixel counts, one array per sample."""
        for sample in data_samples:
            name = sample.get('img_path', 'a data sample')
            if 'sent_id' in sample:
                name = f'{name} (sentence {sample["sent_id"]})'
            pred = _masks(sample, 'pred_instances', name)
            gt = _masks(sample, 'gt_instances', name)
            if pred.shape != gt.shape:
                raise ValueError(f'{name}: pred_instances.masks have shape {tuple(pred.shape)} but gt_instances.masks '
                                 f'{tuple(gt.shape)}; both must be (K, H, W), one mask per referring expression, '
                                 'at the same size (load the annotations after Resize in the test pipeline)')
            self.results.append(intersection_union(pred, gt.to(pred.device)).cpu().numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """cIoU, mIoU and prec@t over all refs of all samples (NaN for each when there are none)."""
        counts = np.concatenate(results).astype(np.float64) if results else np.zeros((0, 2))
        names = ['cIoU', 'mIoU'] + [f'prec@{t:g}' for t in self.thresholds]
        if len(counts) == 0:
            print_log(f'{type(self).__name__}: no referring expressions were scored; the results are NaN',
                      logger='current', level=logging.WARNING)
            return {name: math.nan for name in names}
        intersection, union = counts[:, 0], counts[:, 1]
        ious = np.where(union > 0, intersection / np.maximum(union, 1), 1.0)
        total_union = union.sum()
        metrics = {'cIoU': float(intersection.sum() / total_union) if total_union > 0 else 1.0,
                   'mIoU': float(ious.mean())}
        for t in self.thresholds:
            metrics[f'prec@{t:g}'] = float((ious >= t).mean())
        return metrics
