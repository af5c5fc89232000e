"""SampleInteractivePrompts on toy COCO panoptic images: prompt shapes and ranges, targets equal to the prompted
segments, determinism of test mode, every training mode, errors."""
import copy

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from seg.datasets.transforms.sample_interactive_prompts import PROMPT_MODES, SampleInteractivePrompts
from seg.registry import DATASETS, TRANSFORMS
from seg.toy_data import COCO_STUFF_CLASSES, COCO_THING_CLASSES, make_coco_panoptic
from seg.utils.prompts import interior_points


@pytest.fixture(scope='module')
def packed(tmp_path_factory):
    """Packed samples (before SampleInteractivePrompts) of the toy val images; the first has a crowd segment."""
    root = make_coco_panoptic(tmp_path_factory.mktemp('coco') / 'coco_panoptic', num_train=1, num_val=4,
                              height=64, width=80)
    classes = COCO_THING_CLASSES + COCO_STUFF_CLASSES
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadPanopticAnnotations'),
                dict(type='PanopticSegmentsAsInstances', num_things=len(COCO_THING_CLASSES)),
                dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape'))]
    with DefaultScope.overwrite_default_scope('seg'):
        dataset = DATASETS.build(dict(
            type='CocoPanopticDataset', data_root=str(root), ann_file='annotations/panoptic_val2017.json',
            data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'), pipeline=pipeline,
            metainfo=dict(classes=classes, thing_classes=COCO_THING_CLASSES, stuff_classes=COCO_STUFF_CLASSES)))
        return [dataset[i] for i in range(len(dataset))]


def run(transform, results):
    """The transform on a deep copy; returns (output sample, segments before as (N, H, W) bool, their labels)."""
    sample = results['data_samples']
    before = sample.gt_instances.masks.to_ndarray().astype(bool)
    out = transform(copy.deepcopy(results))
    return out['data_samples'], before, sample.gt_instances.labels


def matched_segments(targets: torch.Tensor, segments: np.ndarray):
    """Index of the segment each target mask equals (each must equal one)."""
    index = []
    for target in targets.numpy():
        equal = [i for i, seg in enumerate(segments) if np.array_equal(seg, target)]
        assert len(equal) == 1
        index.append(equal[0])
    return index


def test_registered_and_built_from_a_config():
    with DefaultScope.overwrite_default_scope('seg'):
        transform = TRANSFORMS.build(dict(type='SampleInteractivePrompts', num_objects=3, test_mode=True))
    assert isinstance(transform, SampleInteractivePrompts) and 'test_mode=True' in repr(transform)


def test_test_mode_clicks_the_interior_of_every_segment(packed):
    transform = SampleInteractivePrompts(test_mode=True)
    for results in packed:
        sample, segments, labels = run(transform, results)
        prompts, targets = sample.prompts, sample.gt_instances
        nonempty = [i for i, seg in enumerate(segments) if seg.any()]
        num = len(nonempty)
        assert num >= 3 and len(prompts) == len(targets) == num
        assert set(prompts.keys()) == {'points', 'point_labels'}
        assert prompts.points.shape == (num, 1, 2) and prompts.points.dtype == torch.float32
        assert prompts.point_labels.tolist() == [[1]] * num
        assert targets.masks.dtype == torch.bool and targets.masks.shape == (num, *sample.img_shape)
        # all segments, in order; labels and boxes follow their masks
        assert matched_segments(targets.masks, segments) == nonempty
        assert targets.labels.tolist() == labels[nonempty].tolist() and len(targets.bboxes) == num
        assert torch.equal(prompts.points[:, 0].long(), interior_points(targets.masks))
        x, y = prompts.points[:, 0].long().T
        assert targets.masks[torch.arange(num), y, x].all()
    again, _, _ = run(transform, packed[1])
    first, _, _ = run(transform, packed[1])
    assert torch.equal(again.prompts.points, first.prompts.points)


def test_crowd_segments_are_never_prompted(packed):
    """mmdet keeps a crowd segment out of the instances; its pixels keep their thing class in the semantic map."""
    sample = packed[0]['data_samples']
    segments = sample.gt_instances.masks.to_ndarray().astype(bool)
    crowd = (sample.gt_sem_seg.sem_seg[0].numpy() < len(COCO_THING_CLASSES)) & ~segments.any(axis=0)
    assert crowd.any(), 'the toy val split\'s first image carries a crowd segment'
    np.random.seed(0)
    for transform in (SampleInteractivePrompts(test_mode=True), SampleInteractivePrompts(num_objects=20)):
        out, _, _ = run(transform, packed[0])
        assert not (out.gt_instances.masks.numpy() & crowd).any()


def check_training_sample(sample, segments, transform):
    """Shapes, dtypes and ranges of a training sample; returns the mode of each row."""
    prompts, targets = sample.prompts, sample.gt_instances
    height, width = sample.img_shape
    num = len(targets)
    nonempty = sum(seg.any() for seg in segments)
    assert len(prompts) == num == min(transform.num_objects, nonempty)
    assert targets.masks.dtype == torch.bool and targets.masks.shape == (num, height, width)
    matched_segments(targets.masks, segments)
    assert set(prompts.keys()) <= {'points', 'point_labels', 'boxes', 'has_box', 'masks', 'has_mask'}
    no_clicks = torch.ones(num, dtype=torch.bool)
    if 'points' in prompts:
        points, labels = prompts.points, prompts.point_labels
        assert points.dtype == torch.float32 and labels.dtype == torch.long
        assert points.shape[:2] == labels.shape and points.shape[0] == num and points.shape[2] == 2
        assert set(labels.unique().tolist()) <= {-1, 0, 1}
        for k in range(num):
            for (x, y), label in zip(points[k].long().tolist(), labels[k].tolist()):
                if label == -1:
                    continue
                assert 0 <= x < width and 0 <= y < height
                assert bool(targets.masks[k, y, x]) == (label == 1), 'positives inside the target, negatives off it'
            # padding comes last; at most one negative, after the positives
            valid = labels[k][labels[k] != -1].tolist()
            assert labels[k].tolist() == valid + [-1] * (len(labels[k]) - len(valid))
            assert valid == sorted(valid, reverse=True) and valid.count(0) <= 1
            assert valid.count(1) <= transform.max_positive_points
        no_clicks = (labels == -1).all(dim=1)
    has_box = prompts.has_box if 'boxes' in prompts else torch.zeros(num, dtype=torch.bool)
    has_mask = prompts.has_mask if 'masks' in prompts else torch.zeros(num, dtype=torch.bool)
    modes = []
    for k in range(num):
        clicks = int((prompts.point_labels[k] != -1).sum()) if 'points' in prompts else 0
        kinds = (clicks > 0, bool(has_box[k]), bool(has_mask[k]))
        mode = {(True, False, False): 'points', (False, True, False): 'box', (True, True, False): 'box_point',
                (False, False, True): 'mask'}[kinds]
        assert mode != 'box_point' or clicks == 1
        modes.append(mode)
    assert (~no_clicks).sum() == sum(m in ('points', 'box_point') for m in modes)
    if 'boxes' in prompts:
        boxes = prompts.boxes
        assert boxes.dtype == torch.float32 and boxes.shape == (num, 4)
        assert (boxes[~has_box] == 0).all()
        for k in torch.nonzero(has_box).flatten().tolist():
            x1, y1, x2, y2 = boxes[k].tolist()
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            rows, cols = np.nonzero(targets.masks[k].numpy())
            tight = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
            assert np.abs(boxes[k].numpy() - tight).max() <= transform.max_box_noise + 1
    if 'masks' in prompts:
        masks = prompts.masks
        assert masks.dtype == torch.bool and masks.shape == (num, height, width)
        assert not masks[~has_mask].any()
        reach = max(transform.max_mask_radius, transform.max_mask_downsample) + 1
        for k in torch.nonzero(has_mask).flatten().tolist():
            assert masks[k].any()
            outside = (~targets.masks[k]).numpy().astype(np.uint8)
            distance = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
            assert distance[masks[k].numpy()].max() <= reach, 'a rough mask stays near its segment'
            assert (masks[k] & targets.masks[k]).any()
    return modes


def test_training_prompts_cover_every_mode_within_range(packed):
    transform = SampleInteractivePrompts(num_objects=4)
    np.random.seed(0)
    seen = []
    for _ in range(6):
        for results in packed:
            sample, segments, _ = run(transform, results)
            seen += check_training_sample(sample, segments, transform)
    assert set(seen) == set(PROMPT_MODES)
    mixed = [run(transform, packed[1])[0].prompts for _ in range(5)]
    assert any('has_box' in p and not p.has_box.all() for p in mixed), 'modes mix within an image'


def test_training_prompts_are_random_but_seeded(packed):
    transform = SampleInteractivePrompts(num_objects=3)
    np.random.seed(5)
    first = run(transform, packed[2])[0]
    np.random.seed(5)
    again = run(transform, packed[2])[0]
    assert first.prompts.keys() == again.prompts.keys()
    for key in first.prompts.keys():
        assert torch.equal(first.prompts.get(key), again.prompts.get(key))
    assert torch.equal(first.gt_instances.masks, again.gt_instances.masks)
    others = [run(transform, packed[2])[0] for _ in range(4)]
    assert any(not torch.equal(o.gt_instances.masks, first.gt_instances.masks) for o in others)


@pytest.mark.parametrize('modes', [[m] for m in PROMPT_MODES] + [list(PROMPT_MODES)])
def test_one_mode_per_image(packed, modes):
    transform = SampleInteractivePrompts(num_objects=5, modes=modes, one_mode_per_image=True)
    np.random.seed(1)
    for results in packed:
        sample, segments, _ = run(transform, results)
        drawn = check_training_sample(sample, segments, transform)
        assert len(set(drawn)) == 1 and drawn[0] in modes
        prompts = sample.prompts
        assert all(prompts.get(key).all() for key in ('has_box', 'has_mask') if key in prompts)


def test_an_image_without_segments_gives_no_prompts():
    sample = DetDataSample(metainfo=dict(img_shape=(6, 7)))
    sample.gt_instances = InstanceData(masks=torch.zeros((2, 6, 7), dtype=torch.bool), labels=torch.tensor([0, 1]))
    for test_mode in (True, False):
        out = SampleInteractivePrompts(test_mode=test_mode)(dict(inputs=None, data_samples=copy.deepcopy(sample)))
        prompts = out['data_samples'].prompts
        assert prompts.points.shape == (0, 1, 2) and prompts.point_labels.shape == (0, 1)
        assert out['data_samples'].gt_instances.masks.shape == (0, 6, 7)


def test_bad_arguments_and_unpacked_input_are_errors():
    with pytest.raises(ValueError, match='modes must be'):
        SampleInteractivePrompts(modes=['scribble'])
    with pytest.raises(ValueError, match='modes must be'):
        SampleInteractivePrompts(modes=[])
    with pytest.raises(ValueError, match='negative_prob'):
        SampleInteractivePrompts(negative_prob=2)
    with pytest.raises(KeyError, match='after .*PackDetInputs'):
        SampleInteractivePrompts()(dict(img=np.zeros((4, 4, 3)), gt_masks=None))
