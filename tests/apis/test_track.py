"""seg.apis.track: lazy per-frame ids, given ids kept, later objects, one clear error per bad input; track_to_folder."""
import numpy as np
import pytest
import torch

from seg.apis import track, track_to_folder
from seg.fileio import InputError
from seg.fileio.palette import read_palette_png, write_palette_png
from seg.toy_data import davis_palette, render_video
from seg.models.xmem import XMem
from seg.models.xmem.inference import TrackingInputError


@pytest.fixture(scope='module')
def network():
    torch.manual_seed(0)
    return XMem(key_dim=16, value_dim=32, hidden_dim=8).eval()


@pytest.fixture(scope='module')
def video():
    return render_video(3, num_frames=6, height=64, width=96)


def test_yields_one_id_map_per_frame_with_the_given_ids(network, video):
    first = np.where(video.masks[0] == 1, 7, np.where(video.masks[0] == 2, 3, 0)).astype(np.uint8)
    frames = iter(video.frames)
    results = track(frames, first, network=network)
    ids = next(results)
    assert ids.shape == (64, 96) and ids.dtype == np.uint8
    np.testing.assert_array_equal(ids, first)  # the first frame returns the given mask
    rest = list(results)
    assert len(rest) == 5 and set(np.unique(np.stack(rest))) <= {0, 3, 7}


def test_an_object_given_later_is_tracked_from_there(network, video, tmp_path):
    write_palette_png(tmp_path / '00000.png', (video.masks[0] == 1).astype(np.uint8), davis_palette())
    later = np.zeros((64, 96), np.uint8)
    later[10:30, 10:30] = 5
    write_palette_png(tmp_path / '00003.png', later, davis_palette())
    out = list(track(list(video.frames), tmp_path, network=network))
    assert all(5 not in ids for ids in out[:3])
    assert (out[3][10:30, 10:30] == 5).all()


@pytest.mark.parametrize('case,match', [
    ('size', 'give masks at the frame size'),
    ('no_first', 'no mask for the first frame'),
    ('empty', 'holds no object'),
    ('beyond', 'video has 6 frames'),
    ('no_weights', 'nothing is downloaded'),
    ('frame', 'uint8 RGB'),
])
def test_bad_input_is_named(network, video, case, match):
    frames, masks, kwargs = list(video.frames), {0: video.masks[0]}, dict(network=network)
    if case == 'size':
        masks = {0: video.masks[0][:32]}
    elif case == 'no_first':
        masks = {2: video.masks[2]}
    elif case == 'empty':
        masks = {0: np.zeros_like(video.masks[0])}
    elif case == 'beyond':
        masks = {0: video.masks[0], 9: video.masks[0]}
    elif case == 'no_weights':
        kwargs = {}
    else:
        frames = [f.astype(np.float32) for f in frames]
    with pytest.raises(TrackingInputError, match=match):
        list(track(frames, masks, **kwargs))


def test_track_to_folder_writes_the_ids_of_track_with_the_davis_palette(network, video, tmp_path):
    frames, first = video.frames[:3], video.masks[0]
    out = track_to_folder(frames, first, tmp_path / 'out', network=network, overlay=tmp_path / 'overlay.mp4')
    files = sorted(out.glob('*.png'))
    assert [f.name for f in files] == ['00000.png', '00001.png', '00002.png']
    for file, ids in zip(files, track(frames, first, network=network)):
        written, palette = read_palette_png(file)
        np.testing.assert_array_equal(written, ids)
        np.testing.assert_array_equal(palette, davis_palette())  # an array carries no palette
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out', 'overlay.mp4']
    with pytest.raises(TrackingInputError, match='exists; choose a new output folder'):
        track_to_folder(frames, first, out, network=network)
    with pytest.raises(InputError, match='overlay must end in one of'):
        track_to_folder(frames, first, tmp_path / 'new', network=network, overlay=tmp_path / 'overlay.gif')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out', 'overlay.mp4']
