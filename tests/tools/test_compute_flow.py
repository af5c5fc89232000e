"""tools/data/compute_flow.py and seg.apis.dataset_preparation.compute_flows: official flow naming, DIS without
weights, RAFT from a local checkpoint, resumable, atomic per video, one-line errors."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from seg.apis.dataset_preparation import DatasetPreparationError, compute_flows
from seg.fileio.flow_files import flow_pair_names, read_flow
from seg.models.flow import RAFT, BidirectionalRAFT, load_raft
from seg.toy_data import make_propainter
from seg.utils.optical_flow import dis_flow

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'data' / 'compute_flow.py'
H, W, T = 48, 80, 5


@pytest.fixture(scope='module')
def frames_root(tmp_path_factory):
    return make_propainter(tmp_path_factory.mktemp('toy'), num_train=2, num_val=1, num_frames=T, height=H,
                           width=W) / 'JPEGImages_432_240'


def rgb(path):
    import cv2
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def expected_names(suffix='.flo'):
    names = []
    for t in range(T - 1):
        names += flow_pair_names(f'{t:05d}', f'{t + 1:05d}', suffix)
    return sorted(names)


def test_dis_flows_in_the_official_naming(frames_root, tmp_path):
    out = tmp_path / 'Flows_flo'
    summary = compute_flows(frames_root, out)
    assert summary.written == ['vid_000', 'vid_001', 'vid_002'] and summary.skipped == []
    assert sorted(p.name for p in (out / 'vid_001').iterdir()) == expected_names()
    a, b = rgb(frames_root / 'vid_001' / '00002.jpg'), rgb(frames_root / 'vid_001' / '00003.jpg')
    forward = read_flow(out / 'vid_001' / '00002_00003_f.flo')
    backward = read_flow(out / 'vid_001' / '00003_00002_b.flo')
    # float16 by default, as ProPainter stores them: 12 header bytes + 2 bytes a value.
    assert (out / 'vid_001' / '00002_00003_f.flo').stat().st_size == 12 + H * W * 2 * 2
    assert forward.shape == (H, W, 2)
    assert np.allclose(forward, dis_flow(a, b), atol=0.02) and np.allclose(backward, dis_flow(b, a), atol=0.02)
    assert np.abs(forward).mean() > 0.1


def test_npy_float32_and_a_size(frames_root, tmp_path):
    out = tmp_path / 'flows'
    compute_flows(frames_root, out, videos=['vid_002'], flow_format='npy', dtype='float32', size=(40, 24))
    assert sorted(p.name for p in (out / 'vid_002').iterdir()) == expected_names('.npy')
    flow = np.load(out / 'vid_002' / '00000_00001_f.npy')
    assert flow.shape == (24, 40, 2) and flow.dtype == np.float32


def test_rerun_skips_complete_videos_and_redoes_incomplete_ones(frames_root, tmp_path):
    out = tmp_path / 'flows'
    compute_flows(frames_root, out, videos=['vid_000', 'vid_001'])
    stamps = {p: p.stat().st_mtime_ns for p in (out / 'vid_000').iterdir()}
    (out / 'vid_001' / '00001_00000_b.flo').unlink()
    summary = compute_flows(frames_root, out)
    assert summary.skipped == ['vid_000'] and summary.written == ['vid_001', 'vid_002']
    assert {p: p.stat().st_mtime_ns for p in (out / 'vid_000').iterdir()} == stamps
    assert sorted(p.name for p in (out / 'vid_001').iterdir()) == expected_names()
    # The flows of another format are another output: not complete.
    assert compute_flows(frames_root, out, videos=['vid_000'], flow_format='npy').written == ['vid_000']


def test_an_interrupted_video_leaves_nothing_half_written(frames_root, tmp_path, monkeypatch):
    import seg.apis.dataset_preparation as prep
    out = tmp_path / 'flows'
    calls = []

    def failing_write(*args):
        calls.append(1)
        if len(calls) == 2 * (T - 1) + 3:  # inside the second video
            raise KeyboardInterrupt
        real_write(*args)

    real_write = prep.write_flow
    monkeypatch.setattr(prep, 'write_flow', failing_write)
    with pytest.raises(KeyboardInterrupt):
        compute_flows(frames_root, out)
    assert [p.name for p in out.iterdir()] == ['vid_000']
    assert sorted(p.name for p in (out / 'vid_000').iterdir()) == expected_names()


def test_bad_settings_are_input_errors(frames_root, tmp_path):
    with pytest.raises(DatasetPreparationError, match='flow format'):
        compute_flows(frames_root, tmp_path / 'x', flow_format='png')
    with pytest.raises(DatasetPreparationError, match='dtype'):
        compute_flows(frames_root, tmp_path / 'x', dtype='float64')
    with pytest.raises(DatasetPreparationError, match='not a folder'):
        compute_flows(tmp_path / 'nowhere', tmp_path / 'x')
    assert not (tmp_path / 'x').exists()


@pytest.fixture(scope='module')
def random_raft(tmp_path_factory):
    """A raft-things checkpoint of random weights (no download), as torch.save writes it."""
    torch.manual_seed(0)
    checkpoint = tmp_path_factory.mktemp('raft') / 'raft-random.pth'
    torch.save(RAFT().state_dict(), checkpoint)
    return checkpoint


def test_raft_from_a_local_checkpoint_window_by_window(frames_root, tmp_path, random_raft, monkeypatch):
    import seg.apis.dataset_preparation as prep
    out = tmp_path / 'flows'
    monkeypatch.setattr(prep, 'RAFT_WINDOW', 3)  # windows 0-2, 2-4: the pairs of a 5-frame video, each once
    compute_flows(frames_root, out, raft_checkpoint=random_raft, videos=['vid_000'], iters=2, dtype='float32')
    assert sorted(p.name for p in (out / 'vid_000').iterdir()) == expected_names()
    frames = np.stack([rgb(frames_root / 'vid_000' / f'{t:05d}.jpg') for t in range(T)])
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2).float()[None] / 127.5 - 1
    with torch.no_grad():
        forward, backward = BidirectionalRAFT(raft=load_raft(random_raft), iters=2).eval()(clip)
    for t in range(T - 1):
        forward_name, backward_name = flow_pair_names(f'{t:05d}', f'{t + 1:05d}')
        assert np.allclose(read_flow(out / 'vid_000' / forward_name), forward[0, t].permute(1, 2, 0).numpy(),
                           atol=1e-4)
        assert np.allclose(read_flow(out / 'vid_000' / backward_name), backward[0, t].permute(1, 2, 0).numpy(),
                           atol=1e-4)
    assert np.isfinite(forward).all() and forward.abs().mean() > 0


def run_tool(*args, cwd):
    env = {**os.environ, 'PYTHONPATH': str(REPO), 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd)


def test_cli_writes_and_refuses_bad_input_in_one_line(frames_root, tmp_path):
    (tmp_path / 'test.json').write_text('{"vid_002": 5}')
    done = run_tool(frames_root, tmp_path / 'flows', '--ann-file', tmp_path / 'test.json', '--dtype', 'float32',
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'flows of 1 videos written, 0 already complete' in done.stdout
    assert sorted(p.name for p in (tmp_path / 'flows' / 'vid_002').iterdir()) == expected_names()
    assert (tmp_path / 'flows' / 'vid_002' / '00000_00001_f.flo').stat().st_size == 12 + H * W * 2 * 4
    (tmp_path / 'bad.json').write_text('{"vid_009": 5}')
    bad = run_tool(frames_root, tmp_path / 'flows', '--ann-file', tmp_path / 'bad.json', cwd=tmp_path)
    assert bad.returncode == 2 and 'Traceback' not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("compute_flow.py: error: videos ['vid_009'] are not in")
    torch.save({'conv.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    wrong = run_tool(frames_root, tmp_path / 'flows', '--raft', tmp_path / 'other.pth', cwd=tmp_path)
    assert wrong.returncode == 2 and 'Traceback' not in wrong.stderr
    assert 'other.pth does not hold RAFT weights' in wrong.stderr.strip().splitlines()[-1]
