"""The losses of ProPainter's flow completion stage (official ``model/modules/flow_comp_raft.py``).

Per direction (forward flows live on frames 0..L-2 and use their masks,
backward flows on frames 1..L-1), with ``combined = pred * m + gt * (1 - m)``:

* reconstruction: L1 on the hole and on the valid region, each normalised by its
  area (``L1(pred·m, gt·m) / mean(m)``);
* smoothness: first- and second-order generalised Charbonnier penalties of
  ``combined`` inside the hole;
* warp: census (ternary) distance between a frame and its neighbour warped by
  ``combined``, inside the hole and where the ground-truth flow warps well;
* edge: class-balanced BCE of the predicted edge logits, and (weight 5) of the
  logits composited with the ground-truth edges outside the hole.

Every function sums the two directions, as the official losses do.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from seg.models.flow.flow_warp import flow_warp

#: Generalised Charbonnier penalty ``(x^2 + eps^2)^alpha`` of the smoothness terms (official).
CHARBONNIER_ALPHA = 0.45
CHARBONNIER_EPS = 1e-3
#: Sharpness of the "ground-truth flow warps well" confidence ``exp(-k * |I - warp(I')|_1^2)``.
WARP_CONFIDENCE = 50.0
#: Grey levels of the census transform (RGB in [-1, 1] weighted and scaled as the official code).
GREY_WEIGHTS = (0.299, 0.587, 0.110)
GREY_SCALE = 255.0
#: Soft sign ``d / sqrt(c + d^2)`` of the census transform and soft count ``d^2 / (c + d^2)`` of its distance.
CENSUS_SOFTNESS = 0.81
HAMMING_SOFTNESS = 0.1
#: Weight of the composited edge term relative to the raw one.
COMPOSITED_EDGE_WEIGHT = 5.0


def _direction_masks(masks: Tensor) -> Tuple[Tensor, Tensor]:
    """The masks of the forward flows (frames 0..L-2) and of the backward flows (frames 1..L-1)."""
    return masks[:, :-1].contiguous(), masks[:, 1:].contiguous()


def _first_order_deltas(flow: Tensor) -> Tensor:
    """(N, 2, H, W) flow -> (N, 4, H, W): x- and y-differences ``f(p) - f(p + e)`` of u, then of v."""
    kernel = flow.new_zeros(2, 1, 3, 3)
    kernel[:, 0, 1, 1] = 1
    kernel[0, 0, 1, 2] = -1
    kernel[1, 0, 2, 1] = -1
    return F.conv2d(flow.reshape(-1, 1, *flow.shape[-2:]), kernel, padding=1).view(flow.shape[0], 4,
                                                                                  *flow.shape[-2:])


def _second_order_deltas(flow: Tensor) -> Tensor:
    """(N, 2, H, W) flow -> (N, 8, H, W): horizontal, vertical and both diagonal second differences of u, of v."""
    kernel = flow.new_zeros(4, 1, 3, 3)
    kernel[:, 0, 1, 1] = -2
    for index, ((y0, x0), (y1, x1)) in enumerate((((1, 0), (1, 2)), ((0, 1), (2, 1)), ((0, 0), (2, 2)),
                                                  ((0, 2), (2, 0)))):
        kernel[index, 0, y0, x0] = 1
        kernel[index, 0, y1, x1] = 1
    return F.conv2d(flow.reshape(-1, 1, *flow.shape[-2:]), kernel, padding=1).view(flow.shape[0], 8,
                                                                                  *flow.shape[-2:])


def _charbonnier(deltas: Tensor, masks: Tensor) -> Tensor:
    """Masked generalised Charbonnier penalty summed over u and v, each part averaged over all its entries."""
    penalty = (deltas ** 2 + CHARBONNIER_EPS ** 2) ** CHARBONNIER_ALPHA * masks
    return penalty.sum() / (deltas.numel() / 2)


def _census(frames: Tensor) -> Tensor:
    """(N, 3, H, W) RGB -> (N, 9, H, W) soft signs of each 3x3 neighbour's grey level minus the centre's."""
    weights = frames.new_tensor(GREY_WEIGHTS).view(1, 3, 1, 1)
    grey = (frames * weights).sum(1, keepdim=True) * GREY_SCALE
    patches = F.conv2d(grey, torch.eye(9, dtype=frames.dtype, device=frames.device).view(9, 1, 3, 3), padding=1)
    differences = patches - grey
    return differences / torch.sqrt(CENSUS_SOFTNESS + differences ** 2)


def _census_warp_loss(flow: Tensor, gt_flow: Tensor, masks: Tensor, frames: Tensor, next_frames: Tensor) -> Tensor:
    """Census distance between ``frames`` and ``next_frames`` warped by ``flow`` (all flattened to N)."""
    gt_warped = flow_warp(next_frames, gt_flow.permute(0, 2, 3, 1))
    confidence = torch.exp(-WARP_CONFIDENCE * (frames - gt_warped).abs().sum(1, keepdim=True) ** 2)
    warped = flow_warp(next_frames, flow.permute(0, 2, 3, 1))
    distance = (_census(frames) - _census(warped)) ** 2
    hamming = (distance / (HAMMING_SOFTNESS + distance)).sum(1, keepdim=True)
    return (hamming * confidence * masks).mean() / masks.mean()


def flow_completion_losses(pred_flows: Sequence[Tensor], gt_flows: Sequence[Tensor], masks: Tensor,
                           frames: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Unweighted reconstruction, smoothness and warp terms of both directions.

    Args:
        pred_flows: ``(forward, backward)`` completed flows, each (B, L-1, 2, H, W) px.
        gt_flows: ``(forward, backward)`` ground-truth flows, same shapes.
        masks: (B, L, 1, H, W) hole masks of the L local frames, 0/1.
        frames: (B, L, 3, H, W) ground-truth local frames in [-1, 1].

    Returns:
        tuple: scalars ``(reconstruction, smoothness, warp)``, each summed over
        the two directions.
    """
    h, w = pred_flows[0].shape[-2:]
    current = (frames[:, :-1], frames[:, 1:])
    following = (frames[:, 1:], frames[:, :-1])
    reconstruction = smoothness = warp = 0
    for pred, gt, mask, frame, other in zip(pred_flows, gt_flows, _direction_masks(masks), current, following):
        reconstruction = (reconstruction + F.l1_loss(pred * mask, gt * mask) / mask.mean() +
                          F.l1_loss(pred * (1 - mask), gt * (1 - mask)) / (1 - mask).mean())
        combined = (pred * mask + gt * (1 - mask)).reshape(-1, 2, h, w)
        flat_mask = mask.reshape(-1, 1, h, w)
        smoothness = (smoothness + _charbonnier(_first_order_deltas(combined), flat_mask) +
                      _charbonnier(_second_order_deltas(combined), flat_mask))
        warp = warp + _census_warp_loss(combined, gt.reshape(-1, 2, h, w), flat_mask, frame.reshape(-1, 3, h, w),
                                        other.reshape(-1, 3, h, w))
    return reconstruction, smoothness, warp


def _balanced_bce(logits: Tensor, edges: Tensor) -> Tensor:
    """BCE with logits, edge pixels weighted by the non-edge share of their map and vice versa; (N, 1, H, W)."""
    is_edge = (edges > 0.5).float()
    edge_share = is_edge.mean(dim=(1, 2, 3), keepdim=True)
    weight = (1 - edge_share) * is_edge + edge_share * (1 - is_edge)
    return F.binary_cross_entropy_with_logits(logits.float(), edges.float(), weight=weight)


def edge_loss(pred_edges: Sequence[Tensor], gt_edges: Sequence[Tensor], masks: Tensor) -> Tensor:
    """Unweighted edge term of both directions.

    Args:
        pred_edges: ``(forward, backward)`` edge logits, each (B, L-1, 1, H, W).
        gt_edges: ``(forward, backward)`` 0/1 target edges, same shapes.
        masks: (B, L, 1, H, W) hole masks of the local frames.

    Returns:
        Tensor: scalar.
    """
    h, w = pred_edges[0].shape[-2:]
    total = 0
    for pred, gt, mask in zip(pred_edges, gt_edges, _direction_masks(masks)):
        composited = pred * mask + gt * (1 - mask)
        gt = gt.reshape(-1, 1, h, w)
        total = total + (_balanced_bce(pred.reshape(-1, 1, h, w), gt) +
                         COMPOSITED_EDGE_WEIGHT * _balanced_bce(composited.reshape(-1, 1, h, w), gt))
    return total
