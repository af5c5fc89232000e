"""Window frame indices against literal re-statements of the official evaluate.py / test.py loops."""
import pytest

from seg.models.utils.inpainting_windows import neighbor_ids, reference_ids, window_starts


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
