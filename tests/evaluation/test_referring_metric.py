"""ReferringMetric: cIoU, mIoU and prec@t on hand-made masks, computed here from the masks themselves."""
import math

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from seg.evaluation.metrics import ReferringMetric
from seg.registry import METRICS

H, W = 8, 10


def box(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


# (prediction, ground truth) per ref: a large well-found object, a small missed one, a half-found one, an exact one.
PAIRS = [
    (box(0, 8, 0, 8), box(0, 8, 1, 10)),
    (box(0, 2, 0, 2), box(5, 7, 5, 8)),
    (box(2, 6, 2, 6), box(2, 6, 4, 8)),
    (box(3, 4, 3, 5), box(3, 4, 3, 5)),
]


def sample(pred: np.ndarray, gt, name: str = 'img.jpg') -> dict:
    data_sample = DetDataSample(metainfo=dict(img_path=name, sent_id=0))
    data_sample.pred_instances = InstanceData(masks=torch.from_numpy(pred[None]))
    data_sample.gt_instances = InstanceData(masks=gt)
    return data_sample.to_dict()


def by_hand(pairs) -> dict:
    inter = np.array([(p & g).sum() for p, g in pairs], float)
    union = np.array([(p | g).sum() for p, g in pairs], float)
    ious = inter / union
    return {'cIoU': inter.sum() / union.sum(), 'mIoU': ious.mean(), 'ious': ious}


@pytest.mark.parametrize('gt_kind', ['bitmap', 'tensor', 'ndarray'])
def test_ciou_miou_prec_match_the_hand_computed_values(gt_kind):
    wrap = {'bitmap': lambda m: BitmapMasks(m[None].astype(np.uint8), H, W),
            'tensor': lambda m: torch.from_numpy(m[None]), 'ndarray': lambda m: m[None]}[gt_kind]
    metric = METRICS.build(dict(type='ReferringMetric', thresholds=(0.5, 0.7, 0.9)))
    metric.process({}, [sample(p, wrap(g)) for p, g in PAIRS[:2]])
    metric.process({}, [sample(p, wrap(g)) for p, g in PAIRS[2:]])
    results = metric.evaluate(len(PAIRS))

    expected = by_hand(PAIRS)
    assert sorted(results) == ['refcoco/cIoU', 'refcoco/mIoU', 'refcoco/prec@0.5', 'refcoco/prec@0.7',
                               'refcoco/prec@0.9']
    assert results['refcoco/cIoU'] == pytest.approx(expected['cIoU'], abs=1e-12)
    assert results['refcoco/mIoU'] == pytest.approx(expected['mIoU'], abs=1e-12)
    for t in (0.5, 0.7, 0.9):
        assert results[f'refcoco/prec@{t:g}'] == pytest.approx((expected['ious'] >= t).mean())
    # The hand-made cases tell the two means apart: the large, well-found object lifts cIoU above mIoU.
    assert expected['cIoU'] > expected['mIoU'] + 0.05


def test_several_prompts_per_sample_count_as_several_refs():
    metric = ReferringMetric(prefix='refcocog')
    preds = np.stack([p for p, _ in PAIRS])
    gts = np.stack([g for _, g in PAIRS])
    data_sample = DetDataSample(metainfo=dict(img_path='img.jpg'))
    data_sample.pred_instances = InstanceData(masks=torch.from_numpy(preds))
    data_sample.gt_instances = InstanceData(masks=BitmapMasks(gts, H, W))
    metric.process({}, [data_sample.to_dict()])
    results = metric.evaluate(1)
    assert results['refcocog/cIoU'] == pytest.approx(by_hand(PAIRS)['cIoU'])
    assert results['refcocog/mIoU'] == pytest.approx(by_hand(PAIRS)['mIoU'])


def test_empty_masks_and_no_refs():
    metric = ReferringMetric()
    empty = np.zeros((H, W), bool)
    metric.process({}, [sample(empty, empty[None])])
    assert metric.evaluate(1) == {'refcoco/cIoU': 1.0, 'refcoco/mIoU': 1.0, 'refcoco/prec@0.5': 1.0,
                                  'refcoco/prec@0.6': 1.0, 'refcoco/prec@0.7': 1.0, 'refcoco/prec@0.8': 1.0,
                                  'refcoco/prec@0.9': 1.0}
    assert all(math.isnan(v) for v in ReferringMetric().compute_metrics([]).values())


def test_shape_mismatch_and_bad_masks_are_clear_errors():
    metric = ReferringMetric()
    pred = box(0, 4, 0, 4)
    with pytest.raises(ValueError, match=r'a\.jpg \(sentence 0\): pred_instances.masks have shape \(1, 8, 10\) but '
                                         r'gt_instances.masks \(1, 16, 20\)'):
        metric.process({}, [sample(pred, np.zeros((1, 16, 20), bool), name='a.jpg')])
    with pytest.raises(ValueError, match=r'must be \(K, H, W\)'):
        metric.process({}, [sample(pred, pred)])
    with pytest.raises(TypeError, match='threshold the scores'):
        metric.process({}, [sample(pred.astype(np.float32), pred[None])])
    no_pred = DetDataSample(metainfo=dict(img_path='b.jpg'))
    no_pred.gt_instances = InstanceData(masks=torch.from_numpy(pred[None]))
    with pytest.raises(KeyError, match='b.jpg has no pred_instances.masks'):
        metric.process({}, [no_pred.to_dict()])
    with pytest.raises(ValueError, match='thresholds'):
        ReferringMetric(thresholds=(0, 0.5))
