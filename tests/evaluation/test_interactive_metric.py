"""Point-prompt metric: IoU of hand-made masks, mIoU and NoC from known IoUs,
the one-click NoC identity, input errors, and an mmengine Evaluator run."""
import math

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.evaluator import Evaluator
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from seg.evaluation.metrics.interactive_prompt_metric import InteractivePromptMetric, mask_ious

HEIGHT, WIDTH = 10, 10


def masks_with_iou(iou_percent):
    """(gt, pred) (H, W) bool masks whose IoU is ``iou_percent`` / 100: ground truth of
    100 pixels (the whole image), prediction the first ``iou_percent`` of them."""
    gt = torch.ones((HEIGHT, WIDTH), dtype=torch.bool)
    pred = torch.zeros(HEIGHT * WIDTH, dtype=torch.bool)
    pred[:iou_percent] = True
    return gt, pred.view(HEIGHT, WIDTH)


def sample(iou_percents, name='image.jpg'):
    """A data sample dict (as Evaluator passes them on) with one prompt per IoU."""
    pairs = [masks_with_iou(p) for p in iou_percents]
    return {
        'img_path': name,
        'gt_instances_collected': {'masks': torch.stack([gt for gt, _ in pairs])},
        'pred_instances': {'masks': torch.stack([pred for _, pred in pairs])},
    }


def expected_metrics(ious, thresholds=(0.5, 0.8, 0.85, 0.9), max_clicks=20):
    results = {'mIoU': sum(ious) / len(ious)}
    for t in thresholds:
        results[f'NoC@{t:g}'] = sum(1 if iou >= t else max_clicks for iou in ious) / len(ious)
    return results


def test_mask_ious_of_hand_made_masks():
    gt = torch.zeros((5, 4, 4), dtype=torch.bool)
    pred = torch.zeros((5, 4, 4), dtype=torch.bool)
    gt[0, :2, :2] = pred[0, :2, :2] = True  # identical: 1
    gt[1, :2, :2] = True
    pred[1, :2, :1] = True  # half the ground truth: 2 / 4
    gt[2, 0, 0] = pred[2, 3, 3] = True  # disjoint: 0
    gt[3, :, :2] = True
    pred[3, :2, :] = True  # 4 shared of 12 in the union
    assert mask_ious(pred, gt).tolist() == pytest.approx([1.0, 0.5, 0.0, 4 / 12, 1.0])  # both empty: 1
    assert mask_ious(pred, gt).dtype == torch.float64


def test_hand_made_ious_give_known_miou_and_noc():
    metric = InteractivePromptMetric()
    metric.process({}, [sample([100, 50, 84, 0])])
    results = metric.compute_metrics(metric.results)
    # IoU exactly 0.5 reaches 0.5; 0.84 reaches 0.8 but not 0.85.
    assert results == pytest.approx({
        'mIoU': (1 + 0.5 + 0.84 + 0) / 4,
        'NoC@0.5': (1 + 1 + 1 + 20) / 4,
        'NoC@0.8': (1 + 20 + 1 + 20) / 4,
        'NoC@0.85': (1 + 20 + 20 + 20) / 4,
        'NoC@0.9': (1 + 20 + 20 + 20) / 4,
    })


@pytest.mark.parametrize('max_clicks', [20, 5])
def test_one_click_noc_is_an_affine_function_of_the_fraction_below_threshold(max_clicks):
    rng = np.random.default_rng(0)
    metric = InteractivePromptMetric(max_clicks=max_clicks)
    for _ in range(6):
        metric.process({}, [sample(rng.integers(0, 101, size=int(rng.integers(1, 9))).tolist())])
    ious = np.concatenate(metric.results)
    results = metric.compute_metrics(metric.results)
    for t in (0.5, 0.8, 0.85, 0.9):
        below = float((ious < t).mean())
        assert results[f'NoC@{t:g}'] == pytest.approx(1 + (max_clicks - 1) * below)
    assert results['mIoU'] == pytest.approx(ious.mean())


def test_miou_weighs_every_prompt_not_every_image():
    metric = InteractivePromptMetric()
    metric.process({}, [sample([100]), sample([0, 0, 0])])
    results = metric.compute_metrics(metric.results)
    assert results['mIoU'] == pytest.approx(0.25)  # per image it would be 0.5


def test_evaluator_aggregates_two_batches():
    def data_sample(iou_percents, name):
        raw = sample(iou_percents, name)
        packed = DetDataSample(metainfo={'img_path': name, 'ori_shape': (HEIGHT, WIDTH)})
        packed.gt_instances_collected = InstanceData(masks=raw['gt_instances_collected']['masks'])
        packed.pred_instances = InstanceData(masks=raw['pred_instances']['masks'])
        return packed

    with DefaultScope.overwrite_default_scope('seg'):  # as a config run under scope 'seg' builds it
        metric = MMENGINE_METRICS.build(dict(type='InteractivePromptMetric', thresholds=(0.5, 0.9)))
    assert isinstance(metric, InteractivePromptMetric)
    evaluator = Evaluator(metric)
    batches = [[[90, 40, 95], [100]], [[10, 60, 80, 100, 50]]]
    for index, batch in enumerate(batches):
        evaluator.process([data_sample(p, f'{index}_{i}.jpg') for i, p in enumerate(batch)], data_batch={})
    # Three images but nine prompts: every prompt counts, none is cut off at the image count.
    results = evaluator.evaluate(size=3)
    ious = [p / 100 for batch in batches for percents in batch for p in percents]
    expected = expected_metrics(ious, thresholds=(0.5, 0.9))
    assert results == pytest.approx({f'prompt/{k}': v for k, v in expected.items()})
    assert metric.results == []  # reset for the next evaluation


def test_numpy_and_integer_masks_are_accepted():
    raw = sample([100, 30])
    raw['gt_instances_collected']['masks'] = raw['gt_instances_collected']['masks'].numpy()
    raw['pred_instances']['masks'] = raw['pred_instances']['masks'].to(torch.uint8)
    metric = InteractivePromptMetric()
    metric.process({}, [raw])
    assert metric.compute_metrics(metric.results)['mIoU'] == pytest.approx(0.65)


def test_mismatched_sizes_and_counts_are_errors_naming_both_shapes():
    metric = InteractivePromptMetric()
    smaller = sample([100, 50], name='small.jpg')
    smaller['pred_instances']['masks'] = smaller['pred_instances']['masks'][:, :8]
    with pytest.raises(ValueError, match=r'small\.jpg.*\(2, 10, 10\).*\(2, 8, 10\)'):
        metric.process({}, [smaller])
    fewer = sample([100, 50])
    fewer['pred_instances']['masks'] = fewer['pred_instances']['masks'][:1]
    with pytest.raises(ValueError, match=r'\(2, 10, 10\).*\(1, 10, 10\)'):
        metric.process({}, [fewer])
    assert metric.results == []


def test_missing_prompt_ground_truth_and_float_or_flat_masks_are_errors():
    metric = InteractivePromptMetric()
    missing = sample([100])
    del missing['gt_instances_collected']
    with pytest.raises(KeyError, match='gt_instances_collected'):
        metric.process({}, [missing])
    scores = sample([100])
    scores['pred_instances']['masks'] = scores['pred_instances']['masks'].float()
    with pytest.raises(TypeError, match='binary'):
        metric.process({}, [scores])
    flat = sample([100])
    flat['pred_instances']['masks'] = flat['pred_instances']['masks'][0]
    with pytest.raises(ValueError, match=r'\(K, H, W\)'):
        metric.process({}, [flat])


def test_no_prompts_give_nan_and_bad_arguments_are_errors():
    metric = InteractivePromptMetric()
    no_segments = torch.zeros((0, HEIGHT, WIDTH), dtype=torch.bool)
    metric.process({}, [{'gt_instances_collected': {'masks': no_segments}, 'pred_instances': {'masks': no_segments}}])
    results = metric.compute_metrics(metric.results)
    assert set(results) == {'mIoU', 'NoC@0.5', 'NoC@0.8', 'NoC@0.85', 'NoC@0.9'}
    assert all(math.isnan(v) for v in results.values())
    with pytest.raises(ValueError, match='thresholds'):
        InteractivePromptMetric(thresholds=(0.5, 1.5))
    with pytest.raises(ValueError, match='max_clicks'):
        InteractivePromptMetric(max_clicks=0)
