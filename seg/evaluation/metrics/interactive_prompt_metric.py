"""Point-prompt (interactive) segmentation quality: mIoU and NoC, as RAP-SAM reports them.

Registered as ``InteractivePromptMetric`` in :data:`seg.registry.METRICS`. It
scores RAP-SAM's ``InteractiveEvaluator`` protocol: every ground-truth segment
of an image gets one click (its most interior pixel, see
:func:`seg.utils.prompts.interior_points`) and the model answers each
click with one mask. Names of the results (under the prefix ``prompt/``):

* ``mIoU``: the mean IoU over all prompts of the dataset, every prompt weighing
  the same (per instance, not per image); RAP-SAM's ``miou@iter1``.
* ``NoC@0.5``, ``NoC@0.8``, ``NoC@0.85``, ``NoC@0.9``: RAP-SAM's ``noc@<t>``.

Deliberate differences from RAP-SAM's evaluator:

* Every prompt of every image is scored. RAP-SAM collects one IoU per prompt
  through ``collect_results(..., size)``, which keeps only the first ``size``
  (the number of images) of them.
* Ground truth and predictions must have the same size; RAP-SAM resizes the
  ground truth to the predictions bilinearly instead.
* A prompt whose ground truth and prediction are both empty scores IoU 1, not NaN.
* RAP-SAM's ``iou_iter`` and ``num_tokens`` changed nothing but a metric name;
  they are not arguments here.
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


def mask_ious(pred_masks: Tensor, gt_masks: Tensor) -> Tensor:
    """IoU of each predicted mask with its ground-truth mask.

    Args:
        pred_masks: (K, H, W) bool.
        gt_masks: (K, H, W) bool, on the same device.

    Returns:
        (K,) float64 IoU in [0, 1]; 1 where both masks are empty (empty union).
    """
    pred = pred_masks.flatten(1)
    gt = gt_masks.flatten(1)
    intersection = (pred & gt).sum(dim=1).double()
    union = (pred | gt).sum(dim=1).double()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def _bool_masks(masks: Any, where: str) -> Tensor:
    """``masks`` (a tensor, an ndarray or mmdet ``BitmapMasks``) as a bool tensor; ``where`` names it in errors."""
    if hasattr(masks, 'to_ndarray'):
        masks = masks.to_ndarray()
    if isinstance(masks, np.ndarray):
        masks = torch.from_numpy(masks)
    if not isinstance(masks, Tensor):
        raise TypeError(f'{where} must be a tensor, an ndarray or BitmapMasks, got {type(masks).__name__}')
    if masks.is_floating_point():
        raise TypeError(f'{where} must be binary (bool or integer), got {masks.dtype}: threshold scores first')
    if masks.ndim != 3:
        raise ValueError(f'{where} must be (K, H, W), got shape {tuple(masks.shape)}')
    return masks.bool()


@METRICS.register_module()
class InteractivePromptMetric(BaseMetric):
    """mIoU and NoC@t of one predicted mask per point prompt.

    Each data sample (a dict, as :class:`mmengine.evaluator.Evaluator` passes
    them on) holds, for its K prompts in the same order:

    * ``<gt_field>['masks']``: (K, H, W) bool, the ground-truth segment each
      prompt was made from (``gt_field`` defaults to ``gt_instances_collected``,
      where RapSAM's data preprocessor puts them);
    * ``pred_instances['masks']``: (K, H, W) bool, the model's mask per prompt,

    both at the same size (RapSAM: the original image size, ``ori_shape``).
    There is no fallback to another field: RapSAM's ``gt_instances`` are not in
    prompt order. FastSAM2's interactive samples (``SampleInteractivePrompts``)
    keep their targets, in prompt order, in ``gt_instances``: give
    ``gt_field='gt_instances'``.

    NoC@t (number of clicks to reach IoU t) counts, per prompt, the clicks
    needed until the prediction's IoU is at least t, and ``max_clicks`` when it
    never is; NoC@t is the mean over all prompts of the dataset. RAP-SAM's
    protocol gives only one click, so a prompt needs either 1 click (IoU >= t
    at the first) or ``max_clicks``. With one click
    NoC@t = 1 + (max_clicks - 1) * (fraction of instances below t),
    which says no more than that fraction does.

    Args:
        thresholds: IoU thresholds t of the NoC@t results.
        max_clicks: Clicks counted for a prompt that never reaches t (RAP-SAM: 20).
        gt_field: The sample's field holding the ground truth per prompt.
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering across ranks.
        prefix: Prefix of the result names; default ``'prompt'``.
    """
    default_prefix: Optional[str] = 'prompt'

    def __init__(self,
                 thresholds: Sequence[float] = (0.5, 0.8, 0.85, 0.9),
                 max_clicks: int = 20,
                 gt_field: str = 'gt_instances_collected',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not all(0 < t <= 1 for t in thresholds):
            raise ValueError(f'IoU thresholds must lie in (0, 1], got {list(thresholds)}')
        if max_clicks < 1:
            raise ValueError(f'max_clicks must be >= 1, got {max_clicks}')
        self.thresholds = tuple(float(t) for t in thresholds)
        self.max_clicks = max_clicks
        self.gt_field = gt_field

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the IoU of every prompt of each sample: one (K,) float64 array per sample.

        One entry per sample (not per prompt) keeps ``collect_results``, which
        cuts the gathered list to the number of samples, from dropping prompts.
        """
        for data_sample in data_samples:
            name = data_sample.get('img_path', data_sample.get('img_id', 'a data sample'))
            if self.gt_field not in data_sample:
                raise KeyError(f'{name} has no {self.gt_field}: the ground truth per prompt')
            gt_masks = _bool_masks(data_sample[self.gt_field]['masks'], f'{self.gt_field} masks')
            pred_masks = _bool_masks(data_sample['pred_instances']['masks'], 'pred_instances masks')
            if gt_masks.shape != pred_masks.shape:
                raise ValueError(f'{name}: {self.gt_field} masks have shape {tuple(gt_masks.shape)} but '
                                 f'pred_instances masks {tuple(pred_masks.shape)}; both must be (K, H, W) '
                                 'with one prediction per prompt at the same size')
            ious = mask_ious(pred_masks, gt_masks.to(pred_masks.device))
            self.results.append(ious.cpu().numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """mIoU and NoC@t over all prompts of all samples (NaN for each when there are no prompts)."""
        ious = np.concatenate(results) if results else np.zeros(0)
        names = ['mIoU'] + [f'NoC@{t:g}' for t in self.thresholds]
        if ious.size == 0:
            print_log(f'{type(self).__name__}: no prompts were scored; the results are NaN',
                      logger='current', level=logging.WARNING)
            return {name: math.nan for name in names}
        metrics = {'mIoU': float(ious.mean())}
        for t in self.thresholds:
            clicks = np.where(ious >= t, 1, self.max_clicks)
            metrics[f'NoC@{t:g}'] = float(clicks.mean())
        return metrics
