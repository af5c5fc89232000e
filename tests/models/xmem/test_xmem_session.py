"""XMemSession: the one per-frame loop over XMemInferenceCore and ObjectManager (ids in, ids out)."""
import numpy as np
import pytest
import torch

from seg.models.xmem import XMem
from seg.models.xmem.inference import TrackingInputError, XMemInferenceCore, XMemSession

SIZE = (32, 48)
NUM_FRAMES = 5


@pytest.fixture(scope='module')
def network():
    torch.manual_seed(0)
    return XMem(key_dim=16, value_dim=32, hidden_dim=8).eval()


@pytest.fixture(scope='module')
def frames():
    torch.manual_seed(1)
    return torch.randn(NUM_FRAMES, 3, *SIZE)


def box(top, left, size, value):
    ids = np.zeros(SIZE, np.uint8)
    ids[top:top + size, left:left + size] = value
    return ids


def first_ids():
    """Objects 9 and 4 on frame 0, and a line of void (255, DAVIS object borders) that is no object."""
    ids = box(4, 4, 10, 9) + box(16, 28, 12, 4)
    ids[3, 3:15] = 255
    return ids


FIRST = first_ids()
#: Object 6 is first given on frame 2.
GIVEN = {0: FIRST, 2: box(20, 2, 8, 6)}


def test_the_session_is_the_core_driven_with_labels_and_mapped_back(network, frames):
    session = XMemSession(network, dict(mem_every=2))
    got = [session.step(frames[t], GIVEN.get(t), end=t == NUM_FRAMES - 1) for t in range(NUM_FRAMES)]
    assert session.num_frames == NUM_FRAMES and session.objects.id_of_label == [4, 9, 6]

    core = XMemInferenceCore(network, dict(mem_every=2))  # labels by hand: 4 → 1, 9 → 2, 6 → 3; no `end`
    lut = np.array([0, 4, 9, 6], np.uint8)
    expected = []
    with torch.no_grad():
        for t in range(NUM_FRAMES):
            if t == 0:
                core.set_all_labels([1, 2])
                prob = core.step(frames[t], torch.from_numpy(np.stack([FIRST == 4, FIRST == 9])).float())
            elif t == 2:
                core.set_all_labels([1, 2, 3])
                mask = torch.from_numpy(np.stack([GIVEN[2] == 4, GIVEN[2] == 9, GIVEN[2] == 6])).float()
                prob = core.step(frames[t], mask, valid_labels=[3])
            else:
                prob = core.step(frames[t])
            expected.append(lut[prob.argmax(0).numpy()])
    for t in range(NUM_FRAMES):
        np.testing.assert_array_equal(got[t], expected[t], err_msg=f'frame {t}')
    # the given objects come back as given (void becomes background); object 6 only from frame 2 on
    np.testing.assert_array_equal(got[0], np.where(FIRST == 255, 0, FIRST))
    assert all(6 not in got[t] for t in range(2)) and (got[2][20:28, 2:10] == 6).all()


@pytest.mark.parametrize('case,match', [
    ('size', 'mask of frame 0 is 16x48 but the frames are 32x48; give masks at the frame size'),
    ('first', 'first frame needs a mask'),
    ('empty', 'holds no object'),
])
def test_bad_input_is_named_before_anything_runs(network, frames, case, match):
    session = XMemSession(network)
    ids = {'size': FIRST[:16], 'first': None, 'empty': np.zeros(SIZE, np.uint8)}[case]
    with pytest.raises(TrackingInputError, match=match):
        session.step(frames[0], ids)
    assert session.num_frames == 0 and session.core.curr_ti == -1
