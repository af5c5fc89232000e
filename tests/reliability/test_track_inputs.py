"""Issue 13, tracking and VOS evaluation: every bad input is one clear error, nothing is left behind, no wrong result.

API-level checks of ``seg.apis.track`` and ``seg.evaluation.vos_folders``, and a few runs of
``tools/track.py`` and ``tools/analysis/vos_eval.py``: a refused input exits non-zero with exactly one
``error:`` line and no traceback (``--debug`` shows it), and leaves nothing in or beside the output.
"""
import importlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from PIL import Image

from seg.apis import track, track_to_folder
from seg.apis.track import init_tracker, read_given_masks
from seg.evaluation.vos_folders import evaluate_davis_folder
from seg.fileio.palette import read_palette_png, write_palette_png
from seg.models.xmem import XMem, XMemVOS
from seg.models.xmem.inference import TrackingInputError
from seg.toy_data import davis_palette, make_davis, render_video

REPO = Path(__file__).resolve().parents[2]
TRACK = REPO / 'tools' / 'track.py'
VOS_EVAL = REPO / 'tools' / 'analysis' / 'vos_eval.py'
SMALL = dict(key_dim=16, value_dim=32, hidden_dim=8)


@pytest.fixture(scope='module')
def network():
    torch.manual_seed(0)
    return XMem(**SMALL).eval()


@pytest.fixture(scope='module')
def video():
    return render_video(3, num_frames=4, height=64, width=96)


def jpeg_bytes(ids: np.ndarray, quality: int = 90) -> bytes:
    """A grey JPEG of ``ids``, as a user gets by saving a label image with the wrong suffix."""
    buffer = io.BytesIO()
    Image.fromarray(ids).save(buffer, format='JPEG', quality=quality)
    return buffer.getvalue()


def decoded_jpeg(ids: np.ndarray) -> np.ndarray:
    """``ids`` after a trip through JPEG: what a mask converted from a JPEG holds."""
    return np.array(Image.open(io.BytesIO(jpeg_bytes(ids))))


def write_inputs(folder: Path, video, num_frames: int = 4) -> None:
    """Frames as PNGs, the first mask as a palette PNG and a small released-layout XMem.pth under ``folder``."""
    (folder / 'frames').mkdir(parents=True)
    for t in range(num_frames):
        frame = video.frames[t % len(video.frames)]
        cv2.imwrite(str(folder / 'frames' / f'{t:05d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    write_palette_png(folder / 'first.png', video.masks[0], davis_palette())
    torch.manual_seed(0)
    torch.save(XMem(**SMALL).state_dict(), folder / 'XMem.pth')


def run_tool(tool: Path, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(tool), *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          **kwargs)


def assert_one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode not in (0, None), proc.stdout
    errors = [line for line in proc.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1, proc.stderr
    assert 'Traceback' not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def listing(folder: Path):
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------- 1. first masks must be lossless
def test_a_jpeg_mask_is_refused_by_its_content(video, tmp_path):
    (tmp_path / 'first.jpg').write_bytes(jpeg_bytes(video.masks[0]))
    (tmp_path / 'first.png').write_bytes(jpeg_bytes(video.masks[0]))  # a JPEG under a PNG name
    for name in ('first.jpg', 'first.png'):
        with pytest.raises(TrackingInputError, match='JPEG') as err:
            read_given_masks(tmp_path / name)
        assert 'lossless' in str(err.value) and 'palette PNG' in str(err.value)
    (tmp_path / 'masks').mkdir()
    (tmp_path / 'masks' / '00000.png').write_bytes(jpeg_bytes(video.masks[0]))
    with pytest.raises(TrackingInputError, match='JPEG'):
        read_given_masks(tmp_path / 'masks')


def test_ids_that_look_like_compression_noise_are_refused(network, video, tmp_path):
    noisy = decoded_jpeg((video.masks[0] * 85).astype(np.uint8))  # ids 85, 170 and their JPEG ringing
    assert len(np.unique(noisy)) > 10
    with pytest.raises(TrackingInputError, match='noise') as err:
        next(track(list(video.frames), noisy, network=network))
    assert 'palette PNG' in str(err.value)
    write_palette_png(tmp_path / 'converted.png', noisy, davis_palette())  # a JPEG converted to PNG
    with pytest.raises(TrackingInputError, match='noise'):
        next(track(list(video.frames), tmp_path / 'converted.png', network=network))
    assert not (tmp_path / 'out').exists()
    with pytest.raises(TrackingInputError, match='noise'):
        track_to_folder(list(video.frames), noisy, tmp_path / 'out', network=network)
    assert listing(tmp_path) == ['converted.png']


def test_clean_masks_with_small_objects_or_sparse_ids_are_tracked(network, video):
    sparse = np.where(video.masks[0] > 0, video.masks[0] * 40, 0).astype(np.uint8)  # ids 40, 80: gaps, large
    small = video.masks[0].copy()
    small[:3, :3] = small.max() + 1  # one 9-pixel object, ids still 1..N
    for given in (sparse, small):
        first = next(track(list(video.frames), given, network=network))
        np.testing.assert_array_equal(first, given)


def test_a_jpeg_mask_given_to_the_tool_is_one_line(video, tmp_path):
    write_inputs(tmp_path, video)
    (tmp_path / 'first.jpg').write_bytes(jpeg_bytes(video.masks[0]))
    before = listing(tmp_path)
    proc = run_tool(TRACK, tmp_path / 'frames', tmp_path / 'first.jpg', '--out', tmp_path / 'out', '--checkpoint',
                    tmp_path / 'XMem.pth', '--overlay', tmp_path / 'overlay.mp4')
    assert_one_error_line(proc, 'JPEG', 'palette PNG')
    assert listing(tmp_path) == before


# ----------------------------------------------------------------------- 2. the project's own checkpoints
def save_like_the_runner(path: Path) -> XMemVOS:
    """An mmengine checkpoint of XMemVOS, with the entries ``Runner.save_checkpoint`` writes."""
    torch.manual_seed(1)
    model = XMemVOS(network=SMALL)
    hub = MessageHub.get_instance('test_track_inputs')
    hub.update_scalar('train/loss', np.float64(0.25))
    hub.update_info('iter', 3)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-5)
    torch.save({'meta': {'epoch': 0, 'iter': 3, 'cfg': "model = dict(type='XMemVOS')", 'seed': 0,
                         'experiment_name': 'xmem_toy', 'time': '20250101_000000', 'mmengine_version': '0.10.7'},
                'state_dict': model.state_dict(), 'message_hub': hub.state_dict(),
                'optimizer': optimiser.state_dict(), 'param_schedulers': [{'last_step': 3, 'base_values': [1e-5]}]},
               path)
    return model


def test_a_training_checkpoint_of_xmem_vos_is_accepted(video, tmp_path):
    model = save_like_the_runner(tmp_path / 'iter_3.pth')
    loaded = init_tracker(tmp_path / 'iter_3.pth')
    assert (loaded.key_dim, loaded.value_dim, loaded.hidden_dim) == (16, 32, 8)
    for key, value in model.network.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    got = list(track(list(video.frames), video.masks[0], checkpoint=tmp_path / 'iter_3.pth'))
    expected = list(track(list(video.frames), video.masks[0], network=model.network))
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_the_tool_tracks_with_a_training_checkpoint(video, tmp_path):
    write_inputs(tmp_path, video, num_frames=3)
    save_like_the_runner(tmp_path / 'iter_3.pth')
    proc = run_tool(TRACK, tmp_path / 'frames', tmp_path / 'first.png', '--out', tmp_path / 'out', '--checkpoint',
                    tmp_path / 'iter_3.pth')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert listing(tmp_path / 'out') == ['00000.png', '00001.png', '00002.png']


def test_a_checkpoint_of_another_model_is_named(tmp_path):
    torch.save({'meta': {}, 'state_dict': {'backbone.conv1.weight': torch.zeros(1)}}, tmp_path / 'other.pth')
    with pytest.raises(TrackingInputError, match='not an XMem'):
        init_tracker(tmp_path / 'other.pth')


# ----------------------------------------------------------------------- 3. values given through the API
@pytest.mark.parametrize('case,match', [
    ('above_255', r'object ids must lie in 0\.\.255.*300'),
    ('negative', r'object ids must lie in 0\.\.255.*-1'),
    ('rgb', r'3 channels.*\(H, W\) object ids'),
    ('soft', 'whole numbers'),
    ('negative_frame', 'frame -1'),
    ('beyond_known_end', 'video has 4 frames'),
    ('beyond_streamed_end', 'video has 4 frames'),
    ('internal_size_0', 'max_internal_size'),
])
def test_bad_values_are_named(network, video, case, match):
    frames, masks, config = list(video.frames), {0: video.masks[0]}, None
    ids = video.masks[0].astype(np.int64)
    if case == 'above_255':
        masks = {0: np.where(ids == 1, 300, ids)}
    elif case == 'negative':
        masks = {0: np.where(ids == 1, -1, ids)}
    elif case == 'rgb':
        masks = {0: np.repeat(video.masks[0][..., None], 3, axis=2)}
    elif case == 'soft':
        masks = {0: video.masks[0] * 0.5}
    elif case == 'negative_frame':
        masks = {0: video.masks[0], -1: video.masks[0]}
    elif case == 'beyond_known_end':
        masks = {0: video.masks[0], 7: video.masks[0]}
    elif case == 'beyond_streamed_end':
        frames, masks = iter(frames), {0: video.masks[0], 7: video.masks[0]}
    else:
        config = dict(max_internal_size=0)
    with pytest.raises(TrackingInputError, match=match):
        list(track(frames, masks, network=network, inference_config=config))


def test_an_rgb_mask_message_names_the_channels_not_the_size(network, video):
    rgb = np.repeat(video.masks[0][..., None], 3, axis=2)
    with pytest.raises(TrackingInputError) as err:
        next(track(list(video.frames), rgb, network=network))
    assert 'but the frames are' not in str(err.value) and 'palette PNG' in str(err.value)


def test_a_mask_past_the_end_leaves_no_folder(network, video, tmp_path):
    with pytest.raises(TrackingInputError, match='video has 4 frames'):
        track_to_folder(iter(video.frames), {0: video.masks[0], 9: video.masks[0]}, tmp_path / 'out',
                        network=network)
    assert listing(tmp_path) == []


# ----------------------------------------------------------------------- 4. VOS evaluation: objects that appear later
@pytest.fixture(scope='module')
def davis_late(tmp_path_factory):
    """A toy DAVIS split whose last object first appears on frame 2 of every sequence."""
    root = make_davis(tmp_path_factory.mktemp('davis') / 'davis', num_train=0, num_val=2, num_frames=6)
    for seq in (root / 'ImageSets' / '2017' / 'val.txt').read_text().split():
        paths = sorted((root / 'Annotations' / '480p' / seq).glob('*.png'))
        last = max(int(read_palette_png(p)[0].max()) for p in paths)
        first_seen = [t for t, p in enumerate(paths) if last in read_palette_png(p)[0]][0]
        assert first_seen == 2 and last > read_palette_png(paths[0])[0].max()
    return root


def copy_ground_truth(davis: Path, out: Path) -> None:
    shutil.copytree(davis / 'Annotations' / '480p', out)


def test_an_exact_copy_of_the_ground_truth_scores_one(davis_late, tmp_path):
    copy_ground_truth(davis_late, tmp_path / 'pred')
    results = evaluate_davis_folder(davis_late, tmp_path / 'pred')
    assert results['global']['J&F-Mean'] == 1.0
    assert results['not_scored'] == {'vid_000': {'4': 2}, 'vid_001': {'3': 2}}


def test_the_tool_scores_a_copy_one_and_says_why_late_objects_are_left_out(davis_late, tmp_path):
    copy_ground_truth(davis_late, tmp_path / 'pred')
    proc = run_tool(VOS_EVAL, '--davis-root', davis_late, '--pred', tmp_path / 'pred', '--json', tmp_path / 's.json')
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / 's.json').read_text())['global']['J&F-Mean'] == 1.0
    notes = [line for line in proc.stderr.splitlines() if 'note:' in line]
    assert len(notes) == 1 and 'first frame' in notes[0] and 'vid_000' in notes[0], proc.stderr


def test_an_id_that_is_no_object_is_still_refused(davis_late, tmp_path):
    copy_ground_truth(davis_late, tmp_path / 'pred')
    path = tmp_path / 'pred' / 'vid_001' / '00003.png'
    ids, palette = read_palette_png(path)
    ids = ids.copy()
    ids[:4, :4] = 9
    write_palette_png(path, ids, palette)
    proc = run_tool(VOS_EVAL, '--davis-root', davis_late, '--pred', tmp_path / 'pred', '--json', tmp_path / 's.json')
    assert_one_error_line(proc, 'vid_001', 'id 9')
    assert not (tmp_path / 's.json').exists()
    proc = run_tool(VOS_EVAL, '--davis-root', davis_late, '--pred', tmp_path / 'pred', '--debug')
    assert proc.returncode != 0 and 'Traceback' in proc.stderr


# ----------------------------------------------------------------------- 5. outputs that cannot be written
def test_an_existing_output_is_refused_before_tracking(video, tmp_path):
    write_inputs(tmp_path, video)
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'mine.txt').write_text('keep')
    proc = run_tool(TRACK, tmp_path / 'frames', tmp_path / 'first.png', '--out', tmp_path / 'out', '--checkpoint',
                    tmp_path / 'missing.pth')
    assert_one_error_line(proc, 'exists')
    assert listing(tmp_path / 'out') == ['mine.txt']
    (tmp_path / 'overlay.mp4').write_bytes(b'mine')
    proc = run_tool(TRACK, tmp_path / 'frames', tmp_path / 'first.png', '--out', tmp_path / 'new', '--checkpoint',
                    tmp_path / 'XMem.pth', '--overlay', tmp_path / 'overlay.mp4')
    assert_one_error_line(proc, 'overlay.mp4', 'exists')
    assert (tmp_path / 'overlay.mp4').read_bytes() == b'mine' and not (tmp_path / 'new').exists()


def read_only_run(folder: Path, argv: list) -> subprocess.CompletedProcess:
    """Run the tool with ``folder`` read-only: by its mode, or for root (who ignores modes) as a read-only mount."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return run_tool(TRACK, *argv)
        finally:
            folder.chmod(0o755)
    if shutil.which('unshare') is None:
        pytest.skip('running as root without unshare: no way to make a folder read-only')
    script = f'mount -t tmpfs -o ro tmpfs "{folder}" || exit 97; exec "{sys.executable}" "{TRACK}" "$@"'
    proc = subprocess.run(['unshare', '-m', 'sh', '-c', script, 'sh', *map(str, argv)], capture_output=True,
                          text=True, cwd=REPO)
    if proc.returncode == 97 or proc.stderr.startswith('unshare:'):
        pytest.skip(f'cannot mount a read-only folder here: {proc.stderr.strip()}')
    return proc


def test_a_read_only_parent_is_refused_before_tracking(video, tmp_path):
    write_inputs(tmp_path / 'inputs', video)
    (tmp_path / 'ro').mkdir()
    inputs = tmp_path / 'inputs'
    proc = read_only_run(tmp_path / 'ro', [inputs / 'frames', inputs / 'first.png', '--out', tmp_path / 'ro' / 'out',
                                           '--checkpoint', inputs / 'XMem.pth'])
    assert_one_error_line(proc, str(tmp_path / 'ro' / 'out'), 'cannot')
    assert 'tracking' not in proc.stderr  # refused before the first frame
    assert listing(tmp_path / 'ro') == []


def test_an_output_under_a_file_is_refused(network, video, tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(TrackingInputError, match='not a folder'):
        track_to_folder(list(video.frames), video.masks[0], tmp_path / 'file' / 'out', network=network)
    assert listing(tmp_path) == ['file']


def test_a_write_failing_mid_run_leaves_nothing(network, video, tmp_path, monkeypatch):
    track_api = importlib.import_module('seg.apis.track')  # ``seg.apis.track`` is also the function
    written = []

    def write_then_fail(path, ids, palette):
        if len(written) == 2:
            raise OSError(28, 'No space left on device')
        written.append(path)
        write_palette_png(path, ids, palette)

    monkeypatch.setattr(track_api, 'write_palette_png', write_then_fail)
    with pytest.raises(OSError, match='No space'):
        track_to_folder(list(video.frames), video.masks[0], tmp_path / 'out', network=network,
                        overlay=tmp_path / 'overlay.mp4')
    assert len(written) == 2 and listing(tmp_path) == []


def test_sigterm_during_tracking_leaves_no_staging_folder(video, tmp_path):
    write_inputs(tmp_path, video, num_frames=400)
    proc = subprocess.Popen([sys.executable, str(TRACK), str(tmp_path / 'frames'), str(tmp_path / 'first.png'),
                             '--out', str(tmp_path / 'out'), '--checkpoint', str(tmp_path / 'XMem.pth'),
                             '--overlay', str(tmp_path / 'overlay.mp4')],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.monotonic() + 120
    while not any(p.glob('*.png') for p in tmp_path.glob('.out.*.part')) and proc.poll() is None:
        assert time.monotonic() < deadline, 'the tool never started writing'
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert 'Traceback' not in stderr
    assert listing(tmp_path) == ['XMem.pth', 'first.png', 'frames']


# ----------------------------------------------------------------------- 6. --debug
def test_debug_shows_the_traceback(video, tmp_path):
    write_inputs(tmp_path, video, num_frames=2)
    proc = run_tool(TRACK, tmp_path / 'frames', tmp_path / 'first.png', '--out', tmp_path / 'out', '--checkpoint',
                    tmp_path / 'missing.pth')
    assert_one_error_line(proc, 'XMem.pth', '--debug')
    proc = run_tool(TRACK, tmp_path / 'frames', tmp_path / 'first.png', '--out', tmp_path / 'out', '--checkpoint',
                    tmp_path / 'missing.pth', '--debug')
    assert proc.returncode != 0 and 'Traceback' in proc.stderr and not (tmp_path / 'out').exists()
