"""tools/data/resize_videos.py and seg.apis.dataset_preparation.resize_videos: frame folders, zips and video files to
JPEG folders of one size; names kept, resumable, atomic per video, one-line errors."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from seg.apis.dataset_preparation import DatasetPreparationError, list_videos, resize_videos
from seg.fileio import InputError
from seg.toy_data import make_propainter

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'data' / 'resize_videos.py'
H, W, T = 48, 80, 5


@pytest.fixture(scope='module')
def toy_frames(tmp_path_factory):
    return make_propainter(tmp_path_factory.mktemp('toy'), num_train=2, num_val=1, num_frames=T, height=H,
                           width=W) / 'JPEGImages_432_240'


def rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture
def src(toy_frames, tmp_path):
    """vid_000 as a folder of PNGs with odd stems, vid_001 as a zip, vid_002 as an mp4."""
    root = tmp_path / 'src'
    (root / 'vid_000').mkdir(parents=True)
    for t in range(T):
        cv2.imwrite(str(root / 'vid_000' / f'frame_{t * 5:03d}.png'),
                    cv2.imread(str(toy_frames / 'vid_000' / f'{t:05d}.jpg')))
    with zipfile.ZipFile(root / 'vid_001.zip', 'w') as zf:
        for t in range(T):
            zf.write(toy_frames / 'vid_001' / f'{t:05d}.jpg', f'{t:05d}.jpg')
    with av.open(str(root / 'vid_002.mp4'), 'w') as container:
        stream = container.add_stream('libx264', rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, 'yuv420p'
        for t in range(T):
            frame = av.VideoFrame.from_ndarray(rgb(toy_frames / 'vid_002' / f'{t:05d}.jpg'), format='rgb24')
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    (root / 'notes.txt').write_text('not a video')
    return root


def test_every_kind_of_source_becomes_a_jpeg_folder_of_the_size(src, tmp_path):
    assert list(list_videos(src)) == ['vid_000', 'vid_001', 'vid_002']
    out = tmp_path / 'out'
    summary = resize_videos(src, out, size=(40, 24))
    assert summary.written == ['vid_000', 'vid_001', 'vid_002'] and summary.skipped == []
    assert sorted(p.name for p in out.iterdir()) == ['vid_000', 'vid_001', 'vid_002']
    assert sorted(p.name for p in (out / 'vid_000').iterdir()) == [f'frame_{t * 5:03d}.jpg' for t in range(T)]
    for vid in ('vid_001', 'vid_002'):
        assert sorted(p.name for p in (out / vid).iterdir()) == [f'{t:05d}.jpg' for t in range(T)]
    source = rgb(src / 'vid_000' / 'frame_010.png')
    resized = rgb(out / 'vid_000' / 'frame_010.jpg')
    assert resized.shape == (24, 40, 3)
    error = np.abs(resized - cv2.resize(source, (40, 24), interpolation=cv2.INTER_AREA).astype(float)).mean()
    other = cv2.resize(rgb(src / 'vid_000' / 'frame_020.png'), (40, 24), interpolation=cv2.INTER_AREA)
    assert error < 0.7 * np.abs(resized - other.astype(float)).mean()  # the right frame, JPEG-encoded (5.3 vs 10.6)


def test_rerun_skips_finished_videos_and_redoes_incomplete_ones(src, tmp_path):
    out = tmp_path / 'out'
    resize_videos(src, out, size=(40, 24), videos=['vid_000', 'vid_001'])
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob('*.jpg')}
    (out / 'vid_001' / '00003.jpg').unlink()
    summary = resize_videos(src, out, size=(40, 24))
    assert summary.skipped == ['vid_000'] and summary.written == ['vid_001', 'vid_002']
    assert all(p.stat().st_mtime_ns == stamps[p] for p in (out / 'vid_000').iterdir())
    assert len(list((out / 'vid_001').iterdir())) == T
    assert [p.name for p in out.iterdir() if p.name.startswith('.')] == []


def test_a_failure_leaves_finished_videos_and_nothing_half_written(src, tmp_path, monkeypatch):
    out = tmp_path / 'out'
    (src / 'vid_001.zip').write_bytes(b'broken')
    with pytest.raises(InputError, match='vid_001.zip is not a readable zip'):
        resize_videos(src, out, size=(40, 24))
    assert sorted(p.name for p in out.iterdir()) == ['vid_000']
    calls = []

    def failing_imencode(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_imencode(*args)

    real_imencode = cv2.imencode
    monkeypatch.setattr(cv2, 'imencode', failing_imencode)
    with pytest.raises(KeyboardInterrupt):
        resize_videos(src, out, size=(40, 24), videos=['vid_002'])
    assert sorted(p.name for p in out.iterdir()) == ['vid_000']
    # A killed run's temporary folder (its process is gone) is removed by the next run.
    stale = out / '.vid_002.999999999.0badc0de.part'
    stale.mkdir()
    monkeypatch.undo()
    resize_videos(src, out, size=(40, 24), videos=['vid_002'])
    assert sorted(p.name for p in out.iterdir()) == ['vid_000', 'vid_002']


def test_bad_settings_are_input_errors(src, tmp_path):
    with pytest.raises(DatasetPreparationError, match=r"videos \['nope'\] are not in"):
        resize_videos(src, tmp_path / 'out', videos=['nope'])
    with pytest.raises(DatasetPreparationError, match='interpolation'):
        resize_videos(src, tmp_path / 'out', interpolation='nearest-ish')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DatasetPreparationError, match='no videos in'):
        resize_videos(tmp_path / 'empty', tmp_path / 'x')
    with pytest.raises(DatasetPreparationError, match=r'\(width, height\)'):
        resize_videos(src, tmp_path / 'x', size=(0, 10))


def run_tool(*args, cwd):
    env = {**os.environ, 'PYTHONPATH': str(REPO), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd)


def test_cli_writes_the_selection_and_refuses_bad_input_in_one_line(src, tmp_path):
    (tmp_path / 'train.json').write_text('{"vid_000": 5, "vid_002": 5}')
    done = run_tool(src, tmp_path / 'out', '--size', '40x24', '--ann-file', tmp_path / 'train.json', cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '2 videos written, 0 already complete' in done.stdout
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['vid_000', 'vid_002']
    bad = run_tool(tmp_path / 'missing', tmp_path / 'out', cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith('resize_videos.py: error: video root')
    assert 'Traceback' not in bad.stderr
