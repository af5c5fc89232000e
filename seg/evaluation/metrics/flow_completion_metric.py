"""End-point errors of completed optical flows, per video and overall (ProPainter stage 1).

Registered as ``FlowCompletionMetric`` in :data:`seg.registry.METRICS`. Each data
sample holds one whole video's completed flows ``pred_flows_forward`` /
``pred_flows_backward`` and the ground truth ``gt_flows_forward`` /
``gt_flows_backward`` (each (T-1, 2, H, W) px) and its ``masks`` (T, 1, H, W),
1 = hole. Results (prefix ``flow/``):

* ``EPE_hole``: mean end-point error over the hole pixels of every flow (forward
  flows use the masks of frames 0..T-2, backward flows those of 1..T-1), the
  error of what the net invents;
* ``EPE``: the official ``scripts/evaluate_flow_completion.py`` score: per video
  the mean end-point error over all pixels of the completed flows (zero outside
  the holes, where they keep the ground truth), forward and backward averaged;
  overall the average over flows.

A per-video table goes to the log.
"""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from seg.registry import METRICS

__all__ = ['FlowCompletionMetric', 'end_point_errors']

FLOW_KEYS = ('pred_flows_forward', 'pred_flows_backward', 'gt_flows_forward', 'gt_flows_backward', 'masks')


def end_point_errors(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) flows -> (N, 1, H, W) Euclidean distances in px."""
    return (pred.double() - gt.double()).pow(2).sum(1, keepdim=True).sqrt()


@METRICS.register_module()
class FlowCompletionMetric(BaseMetric):
    """EPE of completed flows against the ground truth, on the holes and (official) over whole frames.

    Args:
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering across ranks.
        prefix: prefix of the result names; default ``'flow'``.
    """

    default_prefix: Optional[str] = 'flow'

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store each video's hole error sum and pixel count and its official EPE."""
        for sample in data_samples:
            name = sample.get('video_name', f'video_{len(self.results)}')
            missing = [key for key in FLOW_KEYS if sample.get(key) is None]
            if missing:
                raise KeyError(f'video {name!r}: the data sample lacks {missing}; FlowCompletionMetric scores the '
                               'output of a flow completion model (FlowCompletionModel.predict)')
            masks = torch.as_tensor(sample['masks']).detach().cpu().double()
            hole_sum = hole_pixels = 0.0
            official = []
            for direction, direction_masks in (('forward', masks[:-1]), ('backward', masks[1:])):
                errors = end_point_errors(torch.as_tensor(sample[f'pred_flows_{direction}']).cpu(),
                                          torch.as_tensor(sample[f'gt_flows_{direction}']).cpu())
                hole_sum += float((errors * direction_masks).sum())
                hole_pixels += float(direction_masks.sum())
                official.append(float(errors.mean()))
            self.results.append(dict(video_name=name, hole_sum=hole_sum, hole_pixels=hole_pixels,
                                     epe=sum(official) / len(official), num_flows=len(masks) - 1))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Log the per-video table; return ``EPE_hole`` and ``EPE`` over all videos."""
        rows = []
        for result in results:
            hole = result['hole_sum'] / result['hole_pixels'] if result['hole_pixels'] else float('nan')
            rows.append((result['video_name'], hole, result['epe']))
        hole_pixels = sum(r['hole_pixels'] for r in results)
        num_flows = sum(r['num_flows'] for r in results)
        metrics = OrderedDict(
            EPE_hole=sum(r['hole_sum'] for r in results) / hole_pixels if hole_pixels else float('nan'),
            EPE=sum(r['epe'] * r['num_flows'] for r in results) / num_flows if num_flows else float('nan'))
        width = max([len('overall')] + [len(str(row[0])) for row in rows])
        lines = [f'{"video":<{width}}  EPE_hole      EPE']
        lines += [f'{str(name):<{width}}  {hole:8.4f}  {epe:7.4f}' for name, hole, epe in rows]
        lines.append(f'{"overall":<{width}}  {metrics["EPE_hole"]:8.4f}  {metrics["EPE"]:7.4f}')
        print_log(f'{type(self).__name__} per video:\n' + '\n'.join(lines), logger='current')
        return dict(metrics)
