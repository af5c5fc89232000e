"""tools/track.py end to end: palette PNGs with the input palette, an overlay video, nothing left on failure."""
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from seg.fileio.palette import read_palette_png, write_palette_png
from seg.toy_data import davis_palette, render_video
from seg.models.xmem import XMem

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'track.py'


def setup_inputs(tmp_path):
    video = render_video(5, num_frames=5, height=64, width=96)
    for t, frame in enumerate(video.frames):
        (tmp_path / 'frames').mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / 'frames' / f'{t:05d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    palette = davis_palette()
    palette[1] = (10, 200, 30)
    write_palette_png(tmp_path / 'first.png', video.masks[0], palette)
    torch.manual_seed(0)
    torch.save(XMem(key_dim=16, value_dim=32, hidden_dim=8).state_dict(), tmp_path / 'XMem.pth')
    return video, palette


def run(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=REPO)


def test_masks_and_overlay(tmp_path):
    video, palette = setup_inputs(tmp_path)
    proc = run(tmp_path / 'frames', tmp_path / 'first.png', '--out', tmp_path / 'out', '--checkpoint',
               tmp_path / 'XMem.pth', '--overlay', tmp_path / 'overlay.mp4')
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = sorted((tmp_path / 'out').glob('*.png'))
    assert [f.name for f in files] == [f'{t:05d}.png' for t in range(5)]
    ids, got_palette = read_palette_png(files[0])
    np.testing.assert_array_equal(ids, video.masks[0])
    np.testing.assert_array_equal(got_palette, palette)
    with av.open(str(tmp_path / 'overlay.mp4')) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ['XMem.pth', 'first.png', 'frames', 'out', 'overlay.mp4']


def test_failure_leaves_nothing(tmp_path):
    setup_inputs(tmp_path)
    small = np.zeros((32, 32), np.uint8)
    small[5:9, 5:9] = 1
    write_palette_png(tmp_path / 'small.png', small, davis_palette())
    proc = run(tmp_path / 'frames', tmp_path / 'small.png', '--out', tmp_path / 'out', '--checkpoint',
               tmp_path / 'XMem.pth', '--overlay', tmp_path / 'overlay.mp4')
    assert proc.returncode == 2 and 'frame size' in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ['XMem.pth', 'first.png', 'frames', 'small.png']
    proc = run(tmp_path / 'frames', tmp_path / 'first.png', '--out', tmp_path / 'out', '--checkpoint',
               tmp_path / 'missing.pth')
    assert proc.returncode == 2 and 'XMem.pth' in proc.stderr and not (tmp_path / 'out').exists()
