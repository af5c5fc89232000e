"""Panoptic quality without panopticapi: hand-made cases, a naive cross-check,
the mmengine metric end to end, and the panoptic annotation loader."""
import json
import os.path as osp
from collections import defaultdict

import mmcv
import numpy as np
import pytest
import torch
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import DefaultScope

from seg.datasets.transforms import LoadPanopticAnnotations
from seg.evaluation import CocoPanopticMetric
from seg.evaluation.functional import (VOID, PQStat, id2rgb, match_annotations, pq_compute_multi,
                                       pq_compute_single, rgb2id)
from seg.registry import TRANSFORMS

THING, STUFF = 1, 2
CATEGORIES = {1: {'id': 1, 'name': 'a', 'isthing': 1}, 2: {'id': 2, 'name': 'b', 'isthing': 0}}


def segs(*pairs, crowd=()):
    """Segment dicts from ``(id, category_id)`` pairs; ids in ``crowd`` get iscrowd=1."""
    return [{'id': i, 'category_id': c, 'iscrowd': int(i in crowd)} for i, c in pairs]


def average(stat, categories=CATEGORIES, isthing=None):
    return stat.pq_average(categories, isthing=isthing)


def test_rgb_id_roundtrip():
    ids = np.random.default_rng(0).integers(0, 256**3, size=(5, 7))
    rgb = id2rgb(ids)
    assert rgb.dtype == np.uint8 and rgb.shape == (5, 7, 3)
    np.testing.assert_array_equal(rgb2id(rgb), ids)
    assert id2rgb(1 + 2 * 256 + 3 * 256 * 256) == [1, 2, 3]
    assert rgb2id([1, 2, 3]) == 1 + 2 * 256 + 3 * 256 * 256


def test_perfect_match():
    gt = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 3, 3]])
    segments = segs((1, THING), (2, THING), (3, STUFF))
    stat = pq_compute_single(gt, gt.copy(), segments, segments, CATEGORIES)
    for isthing in (None, True, False):
        result, _ = average(stat, isthing=isthing)
        assert result['pq'] == result['sq'] == result['rq'] == 1.0
    assert stat[THING].tp == 2 and stat[STUFF].tp == 1


def test_rgb_inputs_and_png_paths(tmp_path):
    gt = np.array([[1, 1, 70000, 70000]])
    segments = segs((1, THING), (70000, STUFF))
    mmcv.imwrite(id2rgb(gt)[:, :, ::-1], str(tmp_path / 'gt.png'))
    from_path = pq_compute_single(str(tmp_path / 'gt.png'), id2rgb(gt), segments, segments, CATEGORIES)
    assert average(from_path)[0]['pq'] == 1.0


def test_iou_exactly_half_is_not_a_match():
    gt = np.array([[1, 1, 1, 1]])
    pred = np.array([[1, 1, 0, 0]])  # IoU = 2 / 4
    stat = pq_compute_single(gt, pred, segs((1, THING)), segs((1, THING)), CATEGORIES)
    assert (stat[THING].tp, stat[THING].fp, stat[THING].fn) == (0, 1, 1)
    result, _ = average(stat)
    assert result == {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'n': 1}


def test_iou_above_half_is_a_match():
    gt = np.array([[1, 1, 1, 1, 1]])
    pred = np.array([[1, 1, 1, 0, 0]])  # IoU = 3 / 5
    stat = pq_compute_single(gt, pred, segs((1, THING)), segs((1, THING)), CATEGORIES)
    assert (stat[THING].tp, stat[THING].fp, stat[THING].fn) == (1, 0, 0)
    result, per_class = average(stat)
    assert result['sq'] == pytest.approx(0.6)
    assert result['rq'] == 1.0
    assert result['pq'] == pytest.approx(0.6)
    assert per_class[STUFF] == {'pq': 0.0, 'sq': 0.0, 'rq': 0.0}


def test_category_mismatch_is_fp_and_fn():
    gt = np.array([[1, 1, 1, 1]])
    stat = pq_compute_single(gt, gt.copy(), segs((1, THING)), segs((1, STUFF)), CATEGORIES)
    assert (stat[THING].tp, stat[THING].fn, stat[STUFF].fp) == (0, 1, 1)


def test_fp_fn_counting():
    # gt: things 1 and 2, stuff 3; pred: matches 1 and 3, misses 2, adds thing 9 on stuff.
    gt = np.array([[1, 1, 2, 2, 3, 3, 3, 3]])
    pred = np.array([[1, 1, 0, 0, 3, 3, 9, 9]])
    stat = pq_compute_single(gt, pred, segs((1, THING), (2, THING), (3, STUFF)),
                             segs((1, THING), (3, STUFF), (9, THING)), CATEGORIES)
    assert (stat[THING].tp, stat[THING].fp, stat[THING].fn) == (1, 1, 1)
    assert (stat[STUFF].tp, stat[STUFF].fp, stat[STUFF].fn) == (0, 1, 1)  # IoU(3) = 2 / 4
    things, per_class = average(stat, isthing=True)
    assert things == {'pq': 0.5, 'sq': 1.0, 'rq': 0.5, 'n': 1}
    assert per_class[THING] == {'pq': 0.5, 'sq': 1.0, 'rq': 0.5}
    stuff, _ = average(stat, isthing=False)
    assert stuff == {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'n': 1}
    everything, _ = average(stat)
    assert everything == {'pq': 0.25, 'sq': 0.5, 'rq': 0.25, 'n': 2}


def test_void_pixels_leave_the_union():
    pred = np.array([[1, 1, 1, 1, 1]])
    gt_void = np.array([[1, 1, 1, 0, 0]])
    stat = pq_compute_single(gt_void, pred, segs((1, THING)), segs((1, THING)), CATEGORIES)
    assert stat[THING].tp == 1 and stat[THING].iou == 1.0  # 3 / (5 + 3 - 3 - 2)
    # An id that is not in segments_info is not VOID: its pixels stay in the union.
    gt_unlisted = np.array([[1, 1, 1, 7, 7]])
    stat = pq_compute_single(gt_unlisted, pred, segs((1, THING)), segs((1, THING)), CATEGORIES)
    assert stat[THING].iou == pytest.approx(0.6)


def test_prediction_mostly_on_void_is_not_fp():
    gt = np.array([[1, 1, 0, 0, 0]])
    stat = pq_compute_single(gt, np.array([[1, 1, 2, 2, 2]]), segs((1, THING)), segs((1, THING), (2, THING)),
                             CATEGORIES)
    assert (stat[THING].tp, stat[THING].fp) == (1, 0)


def test_crowd_region_of_same_category_is_ignored():
    # gt 5 is a crowd of things, 1 a regular thing, 3 stuff.
    gt = np.array([[1, 1, 5, 5, 5, 5, 3, 3]])
    gt_segments = segs((1, THING), (5, THING), (3, STUFF), crowd=(5, ))
    # A thing prediction 3/4 on the crowd: not a FP; the crowd is neither matched nor a FN.
    stat = pq_compute_single(gt, np.array([[1, 1, 0, 8, 8, 8, 3, 3]]), gt_segments,
                             segs((1, THING), (8, THING), (3, STUFF)), CATEGORIES)
    assert (stat[THING].tp, stat[THING].fp, stat[THING].fn) == (1, 0, 0)
    # Even a prediction equal to the crowd region is not matched to it.
    stat = pq_compute_single(gt, np.array([[1, 1, 5, 5, 5, 5, 3, 3]]), gt_segments,
                             segs((1, THING), (5, THING), (3, STUFF)), CATEGORIES)
    assert (stat[THING].tp, stat[THING].fp, stat[THING].fn) == (1, 0, 0)
    # The crowd of another category does not excuse a prediction.
    stat = pq_compute_single(gt, np.array([[1, 1, 0, 8, 8, 8, 3, 3]]), gt_segments,
                             segs((1, THING), (8, STUFF), (3, STUFF)), CATEGORIES)
    assert stat[STUFF].fp == 1
    # Exactly half on crowd + VOID is a FP (strictly more than half is needed).
    stat = pq_compute_single(gt, np.array([[1, 1, 0, 0, 0, 8, 8, 3]]), gt_segments,
                             segs((1, THING), (8, THING), (3, STUFF)), CATEGORIES)
    assert stat[THING].fp == 1


def test_crowd_plus_void_add_up():
    gt = np.array([[0, 5, 2, 2, 2, 2]])
    # Prediction 8 covers VOID 1 + crowd 1 + stuff 1 = 2/3 ignorable.
    stat = pq_compute_single(gt, np.array([[8, 8, 8, 2, 2, 2]]), segs((5, THING), (2, STUFF), crowd=(5, )),
                             segs((8, THING), (2, STUFF)), CATEGORIES)
    assert stat[THING].fp == 0 and stat[STUFF].tp == 1


def test_only_last_crowd_of_a_category_counts():
    # panopticapi remembers one crowd segment per category: the last one listed.
    gt = np.array([[5, 5, 5, 6, 6, 6]])
    pred = np.array([[8, 8, 8, 0, 0, 0]])
    both = segs((5, THING), (6, THING), crowd=(5, 6))
    assert pq_compute_single(gt, pred, both, segs((8, THING)), CATEGORIES)[THING].fp == 1
    assert pq_compute_single(gt, pred, both[::-1], segs((8, THING)), CATEGORIES)[THING].fp == 0


def test_ground_truth_area_comes_from_annotation():
    gt = np.array([[1, 1, 1, 1]])
    gt_segments = [{'id': 1, 'category_id': THING, 'iscrowd': 0, 'area': 6}]  # stale area, as panopticapi uses it
    stat = pq_compute_single(gt, gt.copy(), gt_segments, segs((1, THING)), CATEGORIES)
    assert stat[THING].iou == pytest.approx(4 / 6)


def test_absent_class_is_excluded_from_averages():
    categories = {**CATEGORIES, 3: {'id': 3, 'name': 'c', 'isthing': 1}}
    gt = np.array([[1, 1, 2, 2]])
    stat = pq_compute_single(gt, gt.copy(), segs((1, THING), (2, STUFF)), segs((1, THING), (2, STUFF)), categories)
    result, per_class = stat.pq_average(categories, isthing=None)
    assert result == {'pq': 1.0, 'sq': 1.0, 'rq': 1.0, 'n': 2}
    assert list(per_class) == [1, 2, 3] and per_class[3]['pq'] == 0.0
    assert stat.pq_average({3: categories[3]})[0] == {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'n': 0}


def test_validity_checks():
    gt = np.array([[1, 1, 2, 2]])
    ok = segs((1, THING), (2, STUFF))
    with pytest.raises(KeyError, match='presented in PNG and not presented in JSON'):
        pq_compute_single(gt, gt, ok, segs((1, THING)), CATEGORIES, image_id=7)
    with pytest.raises(KeyError, match=r'\[3\] are presented in JSON and not presented in PNG'):
        pq_compute_single(gt, gt, ok, ok + segs((3, THING)), CATEGORIES)
    with pytest.raises(KeyError, match='unknown category_id 4'):
        pq_compute_single(gt, gt, ok, segs((1, THING), (2, 4)), CATEGORIES)
    with pytest.raises(ValueError, match='listed twice'):
        pq_compute_single(gt, gt, ok, ok + segs((1, THING)), CATEGORIES)
    with pytest.raises(ValueError, match='must lie in'):
        pq_compute_single(gt, -gt, ok, ok, CATEGORIES)
    with pytest.raises(ValueError, match='ground truth is'):
        pq_compute_single(gt, gt[:, :2], ok, segs((1, THING)), CATEGORIES)
    with pytest.raises(KeyError, match='no prediction for the image with id: 2'):
        match_annotations([{'image_id': 1}, {'image_id': 2}], [{'image_id': 1}])


def test_pq_stat_sums():
    gt = np.array([[1, 1, 1, 1, 1]])
    first = pq_compute_single(gt, np.array([[1, 1, 1, 0, 0]]), segs((1, THING)), segs((1, THING)), CATEGORIES)
    second = pq_compute_single(gt, np.array([[0, 0, 0, 0, 0]]), segs((1, THING)), [], CATEGORIES)
    total = PQStat()
    total += first
    total += second
    assert (total[THING].tp, total[THING].fn) == (1, 1)
    assert average(total)[0]['pq'] == pytest.approx(0.6 / 1.5)


# --------------------------------------------------------------------------- naive cross-check


def naive_pq(gt, pred, gt_segments, pred_segments, categories):
    """Per-class (iou_sum, tp, fp, fn) by per-pixel loops, straight from the definition."""
    gt_info = {s['id']: s for s in gt_segments}
    pred_info = {s['id']: s for s in pred_segments}
    height, width = gt.shape
    gt_area, pred_area, pred_on_void = defaultdict(int), defaultdict(int), defaultdict(int)
    inter = defaultdict(int)
    for y in range(height):
        for x in range(width):
            g, p = int(gt[y, x]), int(pred[y, x])
            gt_area[g] += 1
            pred_area[p] += 1
            inter[g, p] += 1
            if g == VOID:
                pred_on_void[p] += 1
    stats = {c: [0.0, 0, 0, 0] for c in categories}
    matched_gt, matched_pred = set(), set()
    for g, ginfo in gt_info.items():
        if ginfo['iscrowd']:
            continue
        for p, pinfo in pred_info.items():
            if pinfo['category_id'] != ginfo['category_id']:
                continue
            union = pred_area[p] + gt_area[g] - inter[g, p] - pred_on_void[p]
            if inter[g, p] > 0 and inter[g, p] / union > 0.5:
                stats[ginfo['category_id']][0] += inter[g, p] / union
                stats[ginfo['category_id']][1] += 1
                matched_gt.add(g)
                matched_pred.add(p)
    for g, ginfo in gt_info.items():
        if g not in matched_gt and not ginfo['iscrowd']:
            stats[ginfo['category_id']][3] += 1
    for p, pinfo in pred_info.items():
        if p in matched_pred:
            continue
        ignorable = 0
        for y in range(height):
            for x in range(width):
                if pred[y, x] != p:
                    continue
                g = int(gt[y, x])
                if g == VOID or (g in gt_info and gt_info[g]['iscrowd']
                                 and gt_info[g]['category_id'] == pinfo['category_id']):
                    ignorable += 1
        if ignorable / pred_area[p] <= 0.5:
            stats[pinfo['category_id']][2] += 1
    return stats


def random_panoptic(rng, height, width, id_base, n_rects):
    """An id map painted with random rectangles, some pixels left VOID."""
    ids = np.zeros((height, width), dtype=np.int64)
    for k in range(n_rects):
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        y1, x1 = y0 + rng.integers(1, height), x0 + rng.integers(1, width)
        ids[y0:y1, x0:x1] = id_base + k
    ids[rng.random((height, width)) < 0.05] = VOID
    return ids


@pytest.mark.parametrize('seed', range(20))
def test_matches_naive_implementation(seed):
    rng = np.random.default_rng(seed)
    categories = {c: {'id': c, 'name': str(c), 'isthing': int(c <= 2)} for c in (1, 2, 3, 4, 5)}
    height, width = rng.integers(4, 10, size=2)
    gt = random_panoptic(rng, height, width, 1, rng.integers(2, 7))
    gt_ids = [int(i) for i in np.unique(gt) if i != VOID]
    gt_cat = {i: int(rng.integers(1, 5)) for i in gt_ids}
    crowd, crowd_cats = set(), set()
    for i in gt_ids:  # at most one crowd per thing category, as in COCO
        if gt_cat[i] <= 2 and gt_cat[i] not in crowd_cats and rng.random() < 0.3:
            crowd.add(i)
            crowd_cats.add(gt_cat[i])
    gt_segments = [{'id': i, 'category_id': gt_cat[i], 'iscrowd': int(i in crowd)} for i in gt_ids]
    if rng.random() < 0.5:  # an id missing from segments_info: background, not VOID
        gt[rng.integers(0, height), :] = 999

    # Prediction: the ground truth under new ids, partly repainted and voided.
    pred = np.where(gt == VOID, VOID, gt + 100)
    pred[pred == 999 + 100] = VOID
    for k in range(int(rng.integers(0, 4))):
        y0, x0 = rng.integers(0, height), rng.integers(0, width)
        pred[y0:y0 + rng.integers(1, 4), x0:x0 + rng.integers(1, 4)] = 500 + k
    pred[rng.random((height, width)) < 0.1] = VOID
    pred_ids = [int(i) for i in np.unique(pred) if i != VOID]
    pred_segments = [{
        'id': i,
        'category_id': gt_cat[i - 100] if i < 500 and rng.random() < 0.8 else int(rng.integers(1, 6))
    } for i in pred_ids]

    stat = pq_compute_single(gt, pred, gt_segments, pred_segments, categories)
    expected = naive_pq(gt, pred, gt_segments, pred_segments, categories)
    for c, (iou, tp, fp, fn) in expected.items():
        assert (stat[c].tp, stat[c].fp, stat[c].fn) == (tp, fp, fn), c
        assert stat[c].iou == pytest.approx(iou)
    for isthing in (None, True, False):
        result, _ = stat.pq_average(categories, isthing)
        selected = [c for c in categories if isthing is None or (categories[c]['isthing'] == 1) == isthing]
        present = [c for c in selected if sum(expected[c][1:]) > 0]
        assert result['n'] == len(present)
        pqs = [expected[c][0] / (expected[c][1] + 0.5 * expected[c][2] + 0.5 * expected[c][3]) for c in present]
        assert result['pq'] == pytest.approx(np.mean(pqs) if pqs else 0.0)


def test_multi_image_and_processes(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / 'gt').mkdir()
    (tmp_path / 'pred').mkdir()
    matched, expected = [], PQStat()
    for image_id in range(4):
        gt = random_panoptic(rng, 8, 8, 1, 4)
        pred = gt.copy()
        pred[rng.integers(0, 8):, :3] = VOID
        gt_segments = [{'id': int(i), 'category_id': 1 + int(i) % 2, 'iscrowd': 0} for i in np.unique(gt) if i]
        pred_segments = [{'id': int(i), 'category_id': 1 + int(i) % 2} for i in np.unique(pred) if i]
        name = f'{image_id}.png'
        mmcv.imwrite(id2rgb(gt)[:, :, ::-1], str(tmp_path / 'gt' / name))
        mmcv.imwrite(id2rgb(pred)[:, :, ::-1], str(tmp_path / 'pred' / name))
        matched.append(({'image_id': image_id, 'file_name': name, 'segments_info': gt_segments},
                        {'image_id': image_id, 'file_name': name, 'segments_info': pred_segments}))
        expected += pq_compute_single(gt, pred, gt_segments, pred_segments, CATEGORIES)
    for nproc in (1, 2):
        stat = pq_compute_multi(matched, str(tmp_path / 'gt'), str(tmp_path / 'pred'), CATEGORIES, nproc=nproc)
        assert average(stat) == average(expected)


# --------------------------------------------------------------------------- metric end to end

CLASSES = ('person', 'car', 'sky')
META = {'classes': CLASSES, 'thing_classes': ('person', 'car'), 'stuff_classes': ('sky', )}
CAT_IDS = {'person': 1, 'car': 5, 'sky': 9}  # COCO-style, non-contiguous
INSTANCE_OFFSET = 1000


def write_fake_coco_panoptic(root):
    """Two 6x8 images. Returns (ann_file, seg_folder, per-image gt dicts, per-image prediction maps)."""
    seg_folder = osp.join(root, 'panoptic')
    # Image 0: person (id 11), car (id 12), a crowd of persons (id 13), sky (id 14), VOID elsewhere.
    gt0 = np.zeros((6, 8), dtype=np.int64)
    gt0[:, :4] = 14
    gt0[0:3, 0:2] = 11
    gt0[3:6, 0:3] = 12
    gt0[0:2, 5:8] = 13
    # Image 1: one car (id 21) and sky (id 22).
    gt1 = np.full((6, 8), 22, dtype=np.int64)
    gt1[2:6, 2:6] = 21
    gt_maps = [gt0, gt1]
    gt_segments = [
        [(11, 'person', 0), (12, 'car', 0), (13, 'person', 1), (14, 'sky', 0)],
        [(21, 'car', 0), (22, 'sky', 0)],
    ]
    images, annotations, samples = [], [], []
    for image_id, (gt, segments) in enumerate(zip(gt_maps, gt_segments)):
        file_name = f'{image_id:06d}.png'
        mmcv.imwrite(id2rgb(gt)[:, :, ::-1], osp.join(seg_folder, file_name))
        images.append({'id': image_id, 'file_name': file_name.replace('.png', '.jpg'), 'height': 6, 'width': 8})
        annotations.append({
            'image_id': image_id,
            'file_name': file_name,
            'segments_info': [{
                'id': i,
                'category_id': CAT_IDS[name],
                'iscrowd': crowd,
                'area': int((gt == i).sum()),
                'bbox': [0, 0, 1, 1]
            } for i, name, crowd in segments]
        })
        samples.append({
            'img_id': image_id,
            'img_path': osp.join(root, 'images', file_name.replace('.png', '.jpg')),
            'ori_shape': (6, 8),
            'seg_map_path': osp.join(seg_folder, file_name),
            'segments_info': [{
                'id': i,
                'category': CLASSES.index(name),
                'is_thing': name != 'sky' and not crowd
            } for i, name, crowd in segments]
        })
    categories = [{'id': CAT_IDS[n], 'name': n, 'isthing': int(n != 'sky')} for n in CLASSES]
    ann_file = osp.join(root, 'panoptic.json')
    with open(ann_file, 'w') as f:
        json.dump({'images': images, 'annotations': annotations, 'categories': categories}, f)

    person, car, sky, void = 0, 1, 2, len(CLASSES)
    # Image 0: person exact, car one row short (IoU 6/9), that row called sky, a person on the crowd.
    pred0 = np.full((6, 8), void, dtype=np.int64)
    pred0[:, :4] = sky
    pred0[0:3, 0:2] = person + 1 * INSTANCE_OFFSET
    pred0[4:6, 0:3] = car + 2 * INSTANCE_OFFSET  # 6 of the car's 9 pixels: IoU 6/9
    pred0[3, 0:3] = sky  # the rest of the car is called sky
    pred0[0:2, 6:8] = person + 3 * INSTANCE_OFFSET  # on the crowd: ignored
    # Image 1: car as a 4x3 block (IoU 12/16), sky everywhere else, plus a false car.
    pred1 = np.full((6, 8), sky, dtype=np.int64)
    pred1[2:6, 2:5] = car + 1 * INSTANCE_OFFSET
    pred1[0:2, 0:2] = car + 2 * INSTANCE_OFFSET
    return ann_file, seg_folder, samples, [pred0, pred1]


def expected_metrics():
    """The fake data's PQ by hand (fractions of 1)."""
    # person: TP 1 (IoU 1) -> PQ 1, SQ 1, RQ 1
    # car: TP 2 (IoU 6/9, 12/16), FP 1 (false car in image 1) -> RQ 2/2.5, SQ (2/3+3/4)/2
    car_sq = (6 / 9 + 12 / 16) / 2
    car_rq = 2 / 2.5
    # sky: image 0 gt sky = 4 cols * 6 rows - person 6 - car 9 = 9 px; pred sky = 24 - 6 - 6 = 12 px,
    #   intersection 9, union 12 -> IoU 0.75 match; image 1 gt sky 48 - 16 = 32, pred sky 48 - 12 - 4 = 32,
    #   intersection 48 - 16 - 4 = 28 (sky pred ∩ sky gt), union 36 -> IoU 7/9 match.
    sky_sq = (0.75 + 7 / 9) / 2
    sky_rq = 1.0
    things_pq = (1.0 + car_sq * car_rq) / 2
    return {
        'PQ': 100 * (1.0 + car_sq * car_rq + sky_sq * sky_rq) / 3,
        'SQ': 100 * (1.0 + car_sq + sky_sq) / 3,
        'RQ': 100 * (1.0 + car_rq + sky_rq) / 3,
        'PQ_th': 100 * things_pq,
        'SQ_th': 100 * (1.0 + car_sq) / 2,
        'RQ_th': 100 * (1.0 + car_rq) / 2,
        'PQ_st': 100 * sky_sq,
        'SQ_st': 100 * sky_sq,
        'RQ_st': 100.0,
    }


def run_metric(metric, samples, preds):
    metric.dataset_meta = META
    batch = []
    for sample, pred in zip(samples, preds):
        batch.append(dict(sample, pred_panoptic_seg={'sem_seg': torch.from_numpy(pred)[None]}))
    metric.process({}, batch[:1])
    metric.process({}, batch[1:])
    return metric.evaluate(size=len(batch))


@pytest.mark.parametrize('use_ann_file', [True, False])
@pytest.mark.parametrize('write_files', [False, True])
def test_metric_end_to_end(tmp_path, use_ann_file, write_files):
    ann_file, seg_folder, samples, preds = write_fake_coco_panoptic(str(tmp_path))
    cfg = dict(type='CocoPanopticMetric', seg_prefix=seg_folder, classwise=True, nproc=1)
    if use_ann_file:
        cfg['ann_file'] = ann_file
    if write_files:
        cfg['outfile_prefix'] = str(tmp_path / 'out' / 'results')
    with DefaultScope.overwrite_default_scope('seg'):  # as a config run under scope 'seg' builds it
        metric = MMENGINE_METRICS.build(cfg)
    assert isinstance(metric, CocoPanopticMetric)
    results = run_metric(metric, samples, preds)
    expected = expected_metrics()
    assert set(results) == {f'coco_panoptic/{k}' for k in expected}
    for key, value in expected.items():
        assert results[f'coco_panoptic/{key}'] == pytest.approx(value), key
    if write_files:
        written = json.load(open(tmp_path / 'out' / 'results.panoptic.json'))
        categories = {s['category_id'] for a in written['annotations'] for s in a['segments_info']}
        assert categories == ({1, 5, 9} if use_ann_file else {0, 1, 2})
        png = mmcv.imread(str(tmp_path / 'out' / 'results.panoptic' / '000000.png'), channel_order='rgb')
        assert set(np.unique(rgb2id(png))) == {s['id'] for s in written['annotations'][0]['segments_info']} | {0}


@pytest.mark.parametrize('write_files', [False, True])
def test_metric_counts_images_without_segments(tmp_path, write_files):
    """An image whose ground truth lists no segment still has its false positives counted (mmdet 3.3.0 skips
    such images when ``outfile_prefix`` is set; panopticapi does not)."""
    ann_file, seg_folder, samples, preds = write_fake_coco_panoptic(str(tmp_path))
    with open(ann_file) as f:
        coco = json.load(f)
    coco['images'].append({'id': 2, 'file_name': '000002.jpg', 'height': 6, 'width': 8})
    coco['annotations'].append({'image_id': 2, 'file_name': '000002.png', 'segments_info': []})
    with open(ann_file, 'w') as f:
        json.dump(coco, f)
    mmcv.imwrite(id2rgb(np.full((6, 8), 5))[:, :, ::-1], osp.join(seg_folder, '000002.png'))  # id 5: unlisted
    samples.append(dict(samples[1], img_id=2, img_path=str(tmp_path / 'images' / '000002.jpg'), segments_info=[]))
    pred = np.full((6, 8), CLASSES.index('sky'))
    pred[:2, :2] = CLASSES.index('car') + INSTANCE_OFFSET
    preds.append(pred)
    cfg = dict(ann_file=ann_file, seg_prefix=seg_folder, nproc=1)
    if write_files:
        cfg['outfile_prefix'] = str(tmp_path / 'out' / 'results')
    results = run_metric(CocoPanopticMetric(**cfg), samples, preds)
    car_pq = (6 / 9 + 12 / 16) / 2 * 2 / 3  # one more car FP
    sky_pq = (0.75 + 7 / 9) / 2 * 2 / 2.5  # one sky FP
    assert results['coco_panoptic/PQ'] == pytest.approx(100 * (1 + car_pq + sky_pq) / 3)


def test_metric_format_only(tmp_path):
    ann_file, seg_folder, samples, preds = write_fake_coco_panoptic(str(tmp_path))
    metric = CocoPanopticMetric(ann_file=ann_file, seg_prefix=seg_folder, format_only=True,
                                outfile_prefix=str(tmp_path / 'results'))
    assert run_metric(metric, samples, preds) == {}
    assert osp.isfile(tmp_path / 'results.panoptic.json')
    assert osp.isfile(tmp_path / 'results.panoptic' / '000001.png')
    with pytest.raises(ValueError, match='outfile_prefix'):
        CocoPanopticMetric(format_only=True)


def test_metric_label_zero_stuff_is_not_void(tmp_path):
    """A stuff class at label 0 has panoptic id 0; it must not merge with VOID (mmdet 3.3.0 merges them)."""
    gt = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    mmcv.imwrite(id2rgb(gt)[:, :, ::-1], str(tmp_path / 'a.png'))
    sample = {
        'img_id': 0,
        'img_path': str(tmp_path / 'a.jpg'),
        'ori_shape': (2, 4),
        'seg_map_path': str(tmp_path / 'a.png'),
        'segments_info': [{'id': 1, 'category': 0, 'is_thing': False}, {'id': 2, 'category': 1, 'is_thing': True}]
    }
    void, car = 2, 1 + INSTANCE_OFFSET
    pred = np.array([[0, 0, void, car], [0, 0, car, car]])
    meta = {'classes': ('sky', 'car'), 'thing_classes': ('car', ), 'stuff_classes': ('sky', )}
    for outfile_prefix in (None, str(tmp_path / 'out')):
        metric = CocoPanopticMetric(seg_prefix=str(tmp_path), outfile_prefix=outfile_prefix, nproc=1)
        metric.dataset_meta = meta
        sem_seg = torch.from_numpy(pred.copy())[None]
        metric.process({}, [dict(sample, pred_panoptic_seg={'sem_seg': sem_seg})])
        np.testing.assert_array_equal(sem_seg[0].numpy(), pred)  # the prediction is left as it was
        results = metric.evaluate(size=1)
        assert results['coco_panoptic/PQ_st'] == 100.0  # sky exact; VOID merged in would give IoU 4/5
        assert results['coco_panoptic/PQ_th'] == 75.0  # car IoU 3/4


# --------------------------------------------------------------------------- loading transform


def test_load_panoptic_annotations(tmp_path):
    pan = np.zeros((5, 6), dtype=np.int64)
    pan[0:2, 0:3] = 1 + 1 * INSTANCE_OFFSET  # thing, label 1
    pan[2:5, 0:2] = 1 + 2 * INSTANCE_OFFSET  # crowd thing, label 1
    pan[:, 3:] = 2  # stuff, label 2
    pan[4, 5] = 70000  # an id unknown to segments_info
    path = str(tmp_path / 'pan.png')
    mmcv.imwrite(id2rgb(pan)[:, :, ::-1], path)
    segments_info = [
        {'id': 1 + INSTANCE_OFFSET, 'category': 1, 'is_thing': True},
        {'id': 1 + 2 * INSTANCE_OFFSET, 'category': 1, 'is_thing': False},
        {'id': 2, 'category': 2, 'is_thing': False},
    ]
    results = {
        'seg_map_path': path,
        'ori_shape': (5, 6),
        'height': 5,
        'width': 6,
        'instances': [
            {'bbox': [0, 0, 3, 2], 'bbox_label': 1, 'ignore_flag': 0},
            {'bbox': [0, 2, 2, 5], 'bbox_label': 1, 'ignore_flag': 1},
        ],
        'segments_info': segments_info,
    }
    transform = TRANSFORMS.build(dict(type='LoadPanopticAnnotations'))
    assert isinstance(transform, LoadPanopticAnnotations)
    out = transform(results)
    expected_seg = np.full((5, 6), 255)
    for info in segments_info:
        expected_seg[pan == info['id']] = info['category']
    np.testing.assert_array_equal(out['gt_seg_map'], expected_seg)
    assert len(out['gt_masks']) == 1
    np.testing.assert_array_equal(out['gt_masks'].masks[0], (pan == 1 + INSTANCE_OFFSET).astype(np.uint8))
    np.testing.assert_array_equal(out['gt_bboxes'].numpy(), [[0, 0, 3, 2], [0, 2, 2, 5]])
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [1, 1])
    np.testing.assert_array_equal(out['gt_ignore_flags'], [False, True])
