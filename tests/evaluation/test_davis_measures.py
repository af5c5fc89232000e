"""DAVIS J / F / statistics on hand-made masks with known answers, and the semi-supervised sequence rules."""
import numpy as np
import pytest

from seg.evaluation.functional.davis_measures import boundary_f, boundary_map, disk, region_similarity, statistics
from seg.evaluation.vos_folders import VOSEvaluationError, sequence_measures, summarise


def square(y, x, size=10, shape=(100, 100)):
    m = np.zeros(shape, bool)
    m[y:y + size, x:x + size] = True
    return m


def test_disk_is_the_closed_euclidean_disk():
    np.testing.assert_array_equal(disk(2), [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0],
                                            [0, 0, 1, 0, 0]])


def test_boundary_map_of_a_square_is_its_outline_shifted_towards_the_origin():
    bmap = boundary_map(square(2, 2, size=3, shape=(8, 8)))
    expected = np.zeros((8, 8), bool)
    expected[1:5, 1:5] = True
    expected[2:4, 2:4] = False  # the outline runs half a pixel up/left of the 3x3 square
    np.testing.assert_array_equal(bmap, expected)


def test_identical_disjoint_and_empty_masks():
    a, b = square(10, 10), square(60, 60)
    assert region_similarity(a, a) == 1 and boundary_f(a, a) == 1
    assert region_similarity(a, b) == 0 and boundary_f(a, b) == 0
    empty = np.zeros_like(a)
    assert region_similarity(empty, empty) == 1 and boundary_f(empty, empty) == 1
    assert region_similarity(a, empty) == 0 and boundary_f(empty, a) == 0


def test_one_pixel_shift_is_within_the_boundary_tolerance():
    # diagonal of 100x100 is 141.4 px: tolerance ceil(0.008 * 141.4) = 2 px
    a, b = square(20, 20), square(20, 21)
    assert region_similarity(a, b) == pytest.approx(90 / 110)
    assert boundary_f(b, a) == 1.0
    far = square(20, 24)
    assert boundary_f(far, a) < 1.0


def test_void_pixels_are_ignored_by_j():
    a, b = square(20, 20), square(20, 25)
    void = np.zeros_like(a)
    void[:, 30:] = True  # hides the part of b outside a
    assert region_similarity(a, b, void) == 0.5
    assert region_similarity(a, b) == pytest.approx(50 / 150)


def test_statistics_mean_recall_decay():
    values = np.array([1, 1, 1, 1, 0, 0, 0, 0], float)
    # bin edges round(linspace(1, 8, 5)) - 1 = [0, 2, 4, 5, 7]: first bin frames 0..2, last 5..7
    assert statistics(values) == (0.5, 0.5, 1.0)


def test_sequence_rules_first_last_frames_and_object_count():
    gt = np.zeros((5, 40, 40), np.uint8)
    gt[:, 5:15, 5:15] = 1
    gt[:, 20:30, 20:30] = 2
    gt[3, 0, 0] = 255  # void counts as background
    pred = gt.copy()
    pred[0] = 0  # first and last frames are not scored
    pred[-1] = 0
    pred[2][pred[2] == 2] = 0  # object 2 missed on frame 2
    j, f = sequence_measures(gt, np.where(pred == 255, 0, pred))
    assert j.shape == f.shape == (2, 3)
    np.testing.assert_array_equal(j[0], [1, 1, 1])
    np.testing.assert_array_equal(j[1], [1, 0, 1])
    summary = summarise({'seq': (j, f)})
    assert summary['global']['J-Mean'] == pytest.approx(5 / 6)
    assert summary['per_object']['seq_2']['J-Mean'] == pytest.approx(2 / 3)
    with pytest.raises(VOSEvaluationError, match='id 3 but the first frame has 2 objects'):
        sequence_measures(gt, np.full_like(gt, 3))
    with pytest.raises(VOSEvaluationError, match='one mask per frame'):
        sequence_measures(gt, gt[:4])


def test_binary_task_merges_objects():
    gt = np.zeros((3, 20, 20), np.uint8)
    gt[:, 2:8, 2:8] = 1
    gt[:, 10:16, 10:16] = 2
    pred = (gt > 0).astype(np.uint8) * 7
    j, f = sequence_measures(gt, pred, task='binary')
    assert j.shape == (1, 1) and j[0, 0] == 1 and f[0, 0] == 1
