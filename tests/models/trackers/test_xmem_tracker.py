"""XMemTracker (random small XMem): the tracker interface over XMemSession."""
import numpy as np
import pytest
import torch

from seg.models.trackers import XMemTracker
from seg.models.xmem import XMem
from seg.models.xmem.inference import TrackingInputError
from seg.toy_data import render_video


@pytest.fixture(scope='module')
def network():
    torch.manual_seed(0)
    return XMem(key_dim=16, value_dim=32, hidden_dim=8).eval()


def test_given_masks_are_the_output_and_later_frames_are_predicted(network):
    video = render_video(3, num_frames=5, height=64, width=96)
    tracker = XMemTracker(network)
    assert tracker.step(video.frames[0]) == {}  # nothing given yet
    first = tracker.step(video.frames[0], {4: video.masks[0] == 1, 9: video.masks[0] == 2})
    assert sorted(first) == [4, 9] and np.array_equal(first[4], video.masks[0] == 1)
    second = tracker.step(video.frames[1])
    assert sorted(second) == [4, 9] and second[4].shape == (64, 96) and second[4].dtype == bool
    tracker.remove(9)
    assert sorted(tracker.step(video.frames[2])) == [4]
    tracker.reset()
    assert tracker.step(video.frames[3]) == {}


def test_weights_from_a_checkpoint(network, tmp_path):
    torch.save(network.state_dict(), tmp_path / 'XMem.pth')
    video = render_video(3, num_frames=2, height=64, width=96)
    given = {1: video.masks[0] == 1}
    a, b = XMemTracker(checkpoint=tmp_path / 'XMem.pth'), XMemTracker(network)
    a.step(video.frames[0], given), b.step(video.frames[0], given)
    assert np.array_equal(a.step(video.frames[1])[1], b.step(video.frames[1])[1])
    with pytest.raises(TrackingInputError, match='needs network= or checkpoint='):
        XMemTracker()
    with pytest.raises(TrackingInputError, match='ids 1..254'):
        XMemTracker(network).step(video.frames[0], {300: given[1]})
