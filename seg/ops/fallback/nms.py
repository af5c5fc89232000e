"""``mmcv.ops.nms``: ``nms``, ``batched_nms`` and ``nms_match`` on ``torchvision.ops.nms``.

Semantics follow mmcv 2.1.0's kernels: a box is suppressed when its IoU with a
kept, higher-scoring box is ``> iou_threshold`` (``>=`` in ``nms_match``), and
``offset=1`` measures widths as ``x2 - x1 + 1``; torchvision measures
``x2 - x1``, so ``offset=1`` is emulated by shifting ``x2, y2`` by one.
"""
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torchvision
from mmengine.utils import deprecated_api_warning
from torch import Tensor

from .missing import missing_op

ArrayLike = Union[Tensor, np.ndarray]


def _nms_inds(boxes: Tensor, scores: Tensor, iou_threshold: float, offset: int,
              score_threshold: float, max_num: int) -> Tensor:
    """Indices of the boxes kept by NMS, in descending score order.

    Args:
        boxes (Tensor): (N, 4) boxes ``x1, y1, x2, y2``.
        scores (Tensor): (N,) scores.
        iou_threshold (float): suppress boxes whose IoU is above this.
        offset (int): 0 or 1, added to widths and heights.
        score_threshold (float): when > 0, boxes scoring ``<=`` it are dropped first.
        max_num (int): keep at most this many when > 0.

    Returns:
        Tensor: (K,) int64 indices into ``boxes``.
    """
    valid_inds = None
    if score_threshold > 0:
        valid_mask = scores > score_threshold
        valid_inds = valid_mask.nonzero(as_tuple=False).squeeze(1)
        boxes, scores = boxes[valid_mask], scores[valid_mask]
    if offset:
        boxes = torch.cat([boxes[:, :2], boxes[:, 2:] + offset], dim=1)
    inds = torchvision.ops.nms(boxes, scores.to(boxes.dtype), float(iou_threshold))
    if max_num > 0:
        inds = inds[:max_num]
    if valid_inds is not None:
        inds = valid_inds[inds]
    return inds


@deprecated_api_warning({'iou_thr': 'iou_threshold'})
def nms(boxes: ArrayLike,
        scores: ArrayLike,
        iou_threshold: float,
        offset: int = 0,
        score_threshold: float = 0,
        max_num: int = -1) -> Tuple[ArrayLike, ArrayLike]:
    """Greedy non-maximum suppression, returning kept boxes with their scores.

    Args:
        boxes (Tensor | np.ndarray): (N, 4) boxes ``x1, y1, x2, y2``.
        scores (Tensor | np.ndarray): (N,) scores.
        iou_threshold (float): a box is suppressed when its IoU with a kept box is above this.
        offset (int): 0 or 1; box width is ``x2 - x1 + offset``.
        score_threshold (float): when > 0, boxes with ``score <= score_threshold`` are dropped.
        max_num (int): keep at most this many boxes when > 0.

    Returns:
        tuple: ``dets`` (K, 5) ``x1, y1, x2, y2, score`` and ``inds`` (K,) indices into
        ``boxes``, in descending score order; numpy when ``boxes`` is numpy.
    """
    assert isinstance(boxes, (Tensor, np.ndarray))
    assert isinstance(scores, (Tensor, np.ndarray))
    is_numpy = isinstance(boxes, np.ndarray)
    if is_numpy:
        boxes = torch.from_numpy(boxes)
    if isinstance(scores, np.ndarray):
        scores = torch.from_numpy(scores)
    assert boxes.size(1) == 4
    assert boxes.size(0) == scores.size(0)
    assert offset in (0, 1)
    inds = _nms_inds(boxes, scores, iou_threshold, offset, score_threshold, max_num)
    dets = torch.cat([boxes[inds], scores[inds].reshape(-1, 1)], dim=1)
    if is_numpy:
        return dets.cpu().numpy(), inds.cpu().numpy()
    return dets, inds


#: ``nms_cfg['type']`` names; mmcv evaluates the string in its module namespace.
_NMS_TYPES: Dict[str, Callable] = {'nms': nms}


def _nms_op(nms_type: Union[str, Callable]) -> Callable:
    """The NMS function named by ``nms_cfg['type']``; a raising placeholder for ops without fallback."""
    if callable(nms_type):
        return nms_type
    return _NMS_TYPES.get(nms_type) or missing_op(nms_type)


def batched_nms(boxes: Tensor,
                scores: Tensor,
                idxs: Tensor,
                nms_cfg: Optional[Dict],
                class_agnostic: bool = False) -> Tuple[Tensor, Tensor]:
    """NMS applied independently to each group of boxes sharing an ``idxs`` value.

    Groups are separated by shifting each box by ``idx * (max coordinate + 1)``
    (centres only for rotated boxes), as in mmcv.

    Args:
        boxes (Tensor): (N, 4) boxes, or (N, 5) rotated boxes.
        scores (Tensor): (N,) scores.
        idxs (Tensor): (N,) group (class) index of each box.
        nms_cfg (dict | None): ``iou_threshold`` and optional ``type`` (default ``'nms'``),
            ``split_thr`` (default 10000: at or above this many boxes, groups run one by one),
            ``max_num``, ``class_agnostic``, ``offset``, ``score_threshold``.
            ``None`` skips NMS and only sorts by score.
        class_agnostic (bool): ignore ``idxs``; overridden by ``nms_cfg['class_agnostic']``.

    Returns:
        tuple: ``dets`` (K, 5) (or (K, 6) for rotated boxes) boxes with their score last,
        and ``keep`` (K,) indices into ``boxes``, in descending score order.
    """
    if nms_cfg is None:
        scores, inds = scores.sort(descending=True)
        return torch.cat([boxes[inds], scores[:, None]], -1), inds

    cfg = nms_cfg.copy()
    class_agnostic = cfg.pop('class_agnostic', class_agnostic)
    if class_agnostic:
        boxes_for_nms = boxes
    elif boxes.size(-1) == 5:
        max_coordinate = boxes[..., :2].max() + boxes[..., 2:4].max()
        shifts = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        boxes_for_nms = torch.cat([boxes[..., :2] + shifts[:, None], boxes[..., 2:5]], dim=-1)
    else:
        max_coordinate = boxes.max()
        shifts = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
        boxes_for_nms = boxes + shifts[:, None]

    nms_op = _nms_op(cfg.pop('type', 'nms'))
    split_thr = cfg.pop('split_thr', 10000)
    if boxes_for_nms.shape[0] < split_thr:
        dets, keep = nms_op(boxes_for_nms, scores, **cfg)
        boxes = boxes[keep]
        scores = dets[:, -1]
    else:
        max_num = cfg.pop('max_num', -1)
        kept = scores.new_zeros(scores.size(), dtype=torch.bool)
        scores_after_nms = scores.new_zeros(scores.size())
        for group in torch.unique(idxs):
            members = (idxs == group).nonzero(as_tuple=False).view(-1)
            dets, keep = nms_op(boxes_for_nms[members], scores[members], **cfg)
            kept[members[keep]] = True
            scores_after_nms[members[keep]] = dets[:, -1]
        keep = kept.nonzero(as_tuple=False).view(-1)
        scores, order = scores_after_nms[keep].sort(descending=True)
        keep = keep[order]
        boxes = boxes[keep]
        if max_num > 0:
            keep, boxes, scores = keep[:max_num], boxes[:max_num], scores[:max_num]
    return torch.cat([boxes, scores[:, None]], -1), keep


def _nms_match_groups(dets: np.ndarray, iou_threshold: float) -> List[List[int]]:
    """Greedy NMS that records, for each kept box, the boxes it suppressed.

    Args:
        dets (np.ndarray): (N, 5) float32 ``x1, y1, x2, y2, score``.
        iou_threshold (float): a box is suppressed when its IoU with a kept box is ``>=`` this.

    Returns:
        list[list[int]]: one group per kept box, in score order: the kept index, then
        the indices it suppressed in score order.
    """
    x1, y1, x2, y2, scores = (dets[:, i] for i in range(5))
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind='stable')
    suppressed = np.zeros(len(dets), dtype=bool)
    threshold = np.float32(iou_threshold)
    zero = np.float32(0)
    groups = []
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        rest = order[pos + 1:]
        rest = rest[~suppressed[rest]]
        w = np.maximum(zero, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(zero, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = inter / (areas[i] + areas[rest] - inter)
        matched = rest[iou >= threshold]
        suppressed[matched] = True
        groups.append([int(i)] + matched.tolist())
    return groups


def nms_match(dets: ArrayLike, iou_threshold: float) -> List[ArrayLike]:
    """Group boxes by NMS: each kept box with the boxes it suppresses.

    Args:
        dets (Tensor | np.ndarray): (N, 5) ``x1, y1, x2, y2, score``.
        iou_threshold (float): IoU at or above which a box joins a kept box's group.

    Returns:
        list[Tensor | np.ndarray]: one int64 array per kept box (in score order): its index
        first, then the indices it suppressed in score order; same type as ``dets``.
    """
    if dets.shape[0] == 0:
        groups = []
    else:
        assert dets.shape[-1] == 5, f'inputs dets.shape should be (N, 5), but get {dets.shape}'
        array = dets.detach().cpu().numpy() if isinstance(dets, Tensor) else dets
        groups = _nms_match_groups(np.ascontiguousarray(array, dtype=np.float32), iou_threshold)
    if isinstance(dets, Tensor):
        return [dets.new_tensor(g, dtype=torch.long) for g in groups]
    return [np.array(g, dtype=int) for g in groups]
