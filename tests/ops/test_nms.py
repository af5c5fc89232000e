"""nms / batched_nms / nms_match fallbacks vs brute-force re-statements of mmcv's CPU kernels."""
from typing import List

import numpy as np
import pytest
import torch

from seg.ops.fallback import MissingOpError
from seg.ops.fallback.nms import batched_nms, nms, nms_match


def random_boxes(n: int, seed: int = 0) -> tuple:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen) * 40
    wh = torch.rand(n, 2, generator=gen) * 20 + 1
    boxes = torch.cat([xy, xy + wh], 1).round()  # integer corners: offset=1 matters
    scores = torch.randperm(n, generator=gen).float() / n  # distinct scores
    return boxes, scores


def brute_nms(boxes: np.ndarray, scores: np.ndarray, thr: float, offset: int = 0) -> List[int]:
    """mmcv's nms_cpu, one box pair at a time (float32 arithmetic)."""
    f = np.float32
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    keep, removed = [], set()
    for a, i in enumerate(order):
        if i in removed:
            continue
        keep.append(i)
        xi1, yi1, xi2, yi2 = boxes[i]
        area_i = (xi2 - xi1 + f(offset)) * (yi2 - yi1 + f(offset))
        for j in order[a + 1:]:
            if j in removed:
                continue
            xj1, yj1, xj2, yj2 = boxes[j]
            area_j = (xj2 - xj1 + f(offset)) * (yj2 - yj1 + f(offset))
            w = max(f(0), min(xi2, xj2) - max(xi1, xj1) + f(offset))
            h = max(f(0), min(yi2, yj2) - max(yi1, yj1) + f(offset))
            inter = w * h
            if inter / (area_i + area_j - inter) > f(thr):
                removed.add(j)
    return keep


def brute_nms_match(dets: np.ndarray, thr: float) -> List[List[int]]:
    """mmcv's nms_match_cpu: groups of (kept, suppressed...) with IoU >= thr, no offset."""
    f = np.float32
    order = sorted(range(len(dets)), key=lambda i: -dets[i, 4])
    removed, groups = set(), []
    for a, i in enumerate(order):
        if i in removed:
            continue
        group = [i]
        for j in order[a + 1:]:
            if j in removed:
                continue
            w = max(f(0), min(dets[i, 2], dets[j, 2]) - max(dets[i, 0], dets[j, 0]))
            h = max(f(0), min(dets[i, 3], dets[j, 3]) - max(dets[i, 1], dets[j, 1]))
            inter = w * h
            area_i = (dets[i, 2] - dets[i, 0]) * (dets[i, 3] - dets[i, 1])
            area_j = (dets[j, 2] - dets[j, 0]) * (dets[j, 3] - dets[j, 1])
            if inter / (area_i + area_j - inter) >= f(thr):
                removed.add(j)
                group.append(j)
        groups.append(group)
    return groups


@pytest.mark.parametrize('offset', [0, 1])
@pytest.mark.parametrize('thr', [0.3, 0.5, 0.7])
def test_nms_matches_brute_force(offset, thr):
    boxes, scores = random_boxes(60, seed=offset)
    dets, inds = nms(boxes, scores, thr, offset=offset)
    expected = brute_nms(boxes.numpy(), scores.numpy(), thr, offset)
    assert inds.tolist() == expected
    assert torch.equal(dets, torch.cat([boxes[inds], scores[inds, None]], 1))


def test_nms_offset_changes_result():
    boxes = torch.tensor([[0., 0., 9., 9.], [5., 0., 14., 9.]])  # IoU 36/126; offset 1: 50/150
    scores = torch.tensor([0.9, 0.8])
    assert len(nms(boxes, scores, 0.3, offset=0)[1]) == 2
    assert len(nms(boxes, scores, 0.3, offset=1)[1]) == 1


def test_nms_score_threshold_max_num_numpy():
    boxes, scores = random_boxes(60)
    dets, inds = nms(boxes.numpy(), scores.numpy(), 0.5, score_threshold=0.4, max_num=5)
    assert isinstance(dets, np.ndarray) and isinstance(inds, np.ndarray)
    valid = np.nonzero(scores.numpy() > 0.4)[0]
    expected = valid[brute_nms(boxes.numpy()[valid], scores.numpy()[valid], 0.5)][:5]
    assert inds.tolist() == expected.tolist()
    assert dets.shape == (5, 5)


def test_nms_deprecated_iou_thr_and_empty():
    dets, inds = nms(torch.zeros(0, 4), torch.zeros(0), iou_thr=0.5)
    assert dets.shape == (0, 5) and inds.shape == (0,)


def brute_batched(boxes, scores, idxs, thr):
    keep = []
    for c in idxs.unique().tolist():
        members = (idxs == c).nonzero().view(-1)
        keep += members[brute_nms(boxes[members].numpy(), scores[members].numpy(), thr)].tolist()
    return sorted(keep, key=lambda i: -scores[i].item())


@pytest.mark.parametrize('split_thr', [10000, 10])
def test_batched_nms(split_thr):
    boxes, scores = random_boxes(80)
    idxs = torch.randint(0, 4, (80,))
    cfg = dict(type='nms', iou_threshold=0.4, split_thr=split_thr)
    dets, keep = batched_nms(boxes, scores, idxs, cfg)
    assert keep.tolist() == brute_batched(boxes, scores, idxs, 0.4)
    assert torch.equal(dets, torch.cat([boxes[keep], scores[keep, None]], 1))
    dets_max, keep_max = batched_nms(boxes, scores, idxs, dict(cfg, max_num=7))
    assert keep_max.tolist() == keep[:7].tolist()


def test_batched_nms_class_agnostic_and_none():
    boxes, scores = random_boxes(50)
    idxs = torch.randint(0, 3, (50,))
    _, keep = batched_nms(boxes, scores, idxs, dict(iou_threshold=0.5, class_agnostic=True))
    assert keep.tolist() == brute_nms(boxes.numpy(), scores.numpy(), 0.5)
    _, keep2 = batched_nms(boxes, scores, idxs, dict(iou_threshold=0.5), class_agnostic=True)
    assert torch.equal(keep, keep2)
    dets, inds = batched_nms(boxes, scores, idxs, None)
    assert inds.tolist() == scores.argsort(descending=True).tolist()
    assert dets.shape == (50, 5)


def test_batched_nms_unsupported_type_names_op():
    boxes, scores = random_boxes(5)
    with pytest.raises(MissingOpError, match='soft_nms'):
        batched_nms(boxes, scores, torch.zeros(5), dict(type='soft_nms', iou_threshold=0.5))


@pytest.mark.parametrize('thr', [0.3, 0.6])
def test_nms_match(thr):
    boxes, scores = random_boxes(60, seed=3)
    dets = torch.cat([boxes, scores[:, None]], 1)
    expected = brute_nms_match(dets.numpy(), thr)
    got = nms_match(dets, thr)
    assert [g.tolist() for g in got] == expected
    assert all(g.dtype == torch.long for g in got)
    got_np = nms_match(dets.numpy(), thr)
    assert [g.tolist() for g in got_np] == expected and isinstance(got_np[0], np.ndarray)
    assert nms_match(torch.zeros(0, 5), thr) == []


def test_against_compiled(mmcv_ops):
    boxes, scores = random_boxes(200)
    idxs = torch.randint(0, 5, (200,))
    for offset in (0, 1):
        assert torch.equal(nms(boxes, scores, 0.5, offset=offset)[1],
                           mmcv_ops.nms(boxes, scores, 0.5, offset=offset)[1])
    for split_thr in (10000, 10):
        cfg = dict(iou_threshold=0.5, split_thr=split_thr, max_num=50)
        assert torch.equal(batched_nms(boxes, scores, idxs, cfg)[1],
                           mmcv_ops.batched_nms(boxes, scores, idxs, cfg)[1])
    dets = torch.cat([boxes, scores[:, None]], 1)
    assert [g.tolist() for g in nms_match(dets, 0.5)] == [g.tolist() for g in mmcv_ops.nms_match(dets, 0.5)]
