"""Window frame indices against literal re-statements of the official evaluate.py / test.py loops; the blender."""
import numpy as np
import pytest
import torch

from seg.models.utils.inpainting_windows import (WindowBlender, neighbor_ids, reference_ids, reference_reach,
                                                 sliding_windows, window_starts)


def official_windows(length, neighbor_stride=5, ref_length=10, num_ref=-1):
    """The official scripts' loop, restated: (neighbour ids, reference ids) per window."""
    windows = []
    for f in range(0, length, neighbor_stride):
        neighbors = [i for i in range(max(0, f - neighbor_stride), min(length, f + neighbor_stride + 1))]
        refs = []
        if num_ref == -1:
            refs = [i for i in range(0, length, ref_length) if i not in neighbors]
        else:
            start, end = max(0, f - ref_length * (num_ref // 2)), min(length, f + ref_length * (num_ref // 2))
            for i in range(start, end + 1, ref_length):
                if i not in neighbors:
                    if len(refs) > num_ref:
                        break
                    refs.append(i)
        windows.append((neighbors, refs))
    return windows


@pytest.mark.parametrize('length', [1, 4, 11, 20, 37, 100])
@pytest.mark.parametrize('num_ref', [-1, 1, 2, 4])
def test_windows_match_the_official_loop(length, num_ref):
    ours = []
    for center in window_starts(length, 5):
        local = neighbor_ids(center, length, 5)
        ours.append((local, reference_ids(local, length, 10, num_ref, center)))
    official = official_windows(length, num_ref=num_ref)
    # The official test.py may name frame `length` itself (one past the end); we never do.
    official = [(n, [i for i in r if i < length]) for n, r in official]
    assert ours == official


@pytest.mark.parametrize('length', [1, 7, 23, 40, 61])
@pytest.mark.parametrize('num_ref', [-1, 1, 2, 4])
def test_ref_radius_keeps_the_official_references_near_the_centre(length, num_ref):
    for (neighbors, refs), f in zip(official_windows(length, num_ref=num_ref), window_starts(length, 5)):
        refs = [i for i in refs if i < length]  # the official num_ref > 0 loop can name frame `length`
        assert reference_ids(neighbors, length, 10, num_ref, center=f, ref_radius=10**6) == refs
        bounded = reference_ids(neighbors, length, 10, num_ref, center=f, ref_radius=15)
        assert bounded == [i for i in refs if abs(i - f) <= 15]


def test_twenty_frames_by_hand():
    assert window_starts(20) == [0, 5, 10, 15]
    assert neighbor_ids(0, 20) == [0, 1, 2, 3, 4, 5]
    assert neighbor_ids(15, 20) == list(range(10, 20))
    assert reference_ids(neighbor_ids(0, 20), 20) == [10]
    assert reference_ids(neighbor_ids(5, 20), 20) == []
    assert reference_ids(neighbor_ids(15, 20), 20) == [0]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='neighbor_stride'):
        window_starts(10, 0)
    with pytest.raises(ValueError, match='outside the video'):
        neighbor_ids(10, 10)
    with pytest.raises(ValueError, match='num_ref'):
        reference_ids([0], 10, num_ref=0)
    with pytest.raises(ValueError, match='centre'):
        reference_ids([0], 10, num_ref=2)


@pytest.mark.parametrize('length', [1, 4, 11, 37])
@pytest.mark.parametrize('num_ref', [-1, 2])
def test_sliding_windows_are_the_official_windows(length, num_ref):
    official = [(n, [i for i in r if i < length]) for n, r in official_windows(length, num_ref=num_ref)]
    windows = list(sliding_windows(length, 5, 10, num_ref))
    assert [(w.local, w.references) for w in windows] == official
    assert [w.center for w in windows] == window_starts(length, 5)
    assert all(w.ids == w.local + w.references for w in windows)


@pytest.mark.parametrize('length', [7, 40, 61])
@pytest.mark.parametrize('num_ref', [-1, 1, 4])
def test_a_window_reads_no_further_back_than_its_reach(length, num_ref):
    reach = reference_reach(5, num_ref, 10, 15)
    for window in sliding_windows(length, 5, 10, num_ref, ref_radius=15):
        assert min(window.ids) >= window.center - reach


def official_blend(length, predictions_per_window, neighbor_stride=5):
    """The official loop's merging, restated: first prediction, then 0.5 / 0.5 in window order."""
    completed = [None] * length
    for (neighbors, _), predictions in zip(official_windows(length, neighbor_stride), predictions_per_window):
        for position, index in enumerate(neighbors):
            if completed[index] is None:
                completed[index] = predictions[position]
            else:
                completed[index] = completed[index] * 0.5 + predictions[position] * 0.5
    return completed


@pytest.mark.parametrize('length', [1, 5, 6, 23])
def test_blender_merges_as_the_official_loop_and_releases_each_frame_once_final(length):
    rng = np.random.default_rng(length)
    windows = list(sliding_windows(length, 5))
    predictions = [rng.random((len(w.local), 2, 3)) for w in windows]
    blender = WindowBlender(length, 5)
    released = []
    for window, prediction in zip(windows, predictions):
        blender.add(window, prediction)
        final = blender.pop_final()
        later = [i for w in windows[windows.index(window) + 1:] for i in w.local]
        assert not {index for index, _ in final} & set(later), 'no later window predicts a released frame'
        released += final
    assert [index for index, _ in released] == list(range(length))
    for (_, ours), theirs in zip(released, official_blend(length, predictions)):
        np.testing.assert_array_equal(ours, theirs)


def test_blender_takes_tensors_and_refuses_out_of_order_windows():
    windows = list(sliding_windows(12, 5))
    blender = WindowBlender(12, 5)
    blender.add(windows[0], torch.ones(len(windows[0].local), 3))
    blender.add(windows[1], torch.zeros(len(windows[1].local), 3))
    final = blender.pop_final()
    assert [index for index, _ in final] == [0, 1, 2, 3, 4]
    assert all(torch.equal(frame, torch.full((3,), 0.5)) for _, frame in final)
    with pytest.raises(ValueError, match='already released'):
        blender.add(windows[0], torch.ones(len(windows[0].local), 3))
    with pytest.raises(ValueError, match='predictions for'):
        blender.add(windows[2], torch.ones(1, 3))
