"""tools/remove_object.py and tools/track.py --point/--box end to end on a toy clip; one-line errors, nothing left."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from seg.fileio.palette import read_palette_png
from seg.models.xmem import XMem
from seg.toy_data import render_video
from seg.utils.prompts import interior_points

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    """A folder of 8 toy frames (64x96) and the ground-truth ids."""
    folder = tmp_path_factory.mktemp('clip')
    video = render_video(5, num_frames=8, height=64, width=96)
    for t, frame in enumerate(video.frames):
        cv2.imwrite(str(folder / f'{t:05d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder, video.masks


def run(tool, *args):
    return subprocess.run([sys.executable, str(REPO / 'tools' / tool), *map(str, args), '--checkpoints',
                           '/nonexistent'], capture_output=True, text=True, cwd=REPO)


def run_here(tool, *args, capsys):
    """The tool's ``main`` in this process (no start-up cost): its exit status and stderr."""
    spec = importlib.util.spec_from_file_location(tool[:-3], REPO / 'tools' / tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        status = module.main([*map(str, args), '--checkpoints', '/nonexistent'])
    except SystemExit as exit:  # argparse's refusal
        status = exit.code
    return status, capsys.readouterr().err


def test_remove_object_writes_masks_video_and_preview(clip, tmp_path):
    frames, gt = clip
    x, y = interior_points(torch.from_numpy(gt[:1] == 2))[0].tolist()  # object 2 stays in view, never covered
    proc = run('remove_object.py', frames, '--point', f'0,{x},{y}', '--out-masks', tmp_path / 'out', '--out-video',
               tmp_path / 'out' / 'removed.mp4', '--preview', tmp_path / 'preview.png')
    assert proc.returncode == 0, proc.stderr[-2000:]
    for stage in ('track', 'export masks', 'inpaint'):
        assert f'{stage}: 100%' in proc.stderr
    assert 'tracker: FlowMaskPropagator (/nonexistent/XMem.pth not found)' in proc.stdout + proc.stderr
    pngs = sorted((tmp_path / 'out' / 'masks').glob('*.png'))
    assert len(pngs) == 8 and (tmp_path / 'out' / 'masks_coco_rle.json').is_file()
    ids = [read_palette_png(p)[0] for p in pngs]
    assert set(np.unique(ids)) == {0, 1}
    assert min(((i == 1) & (g == 2)).sum() / ((i == 1) | (g == 2)).sum() for i, g in zip(ids, gt)) > 0.9
    with av.open(str(tmp_path / 'out' / 'removed.mp4')) as container:
        assert sum(1 for _ in container.decode(video=0)) == 8
    assert Image.open(tmp_path / 'preview.png').size == (192, 64)


def test_a_later_prompt_is_tracked_back_to_frame_0(clip, tmp_path):
    frames, gt = clip
    x, y = interior_points(torch.from_numpy(gt[5:6] == 2))[0].tolist()
    proc = run('remove_object.py', frames, '--point', f'5,{x},{y}', '--out-masks', tmp_path / 'out')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'track back: 100%' in proc.stderr
    assert (read_palette_png(tmp_path / 'out' / 'masks' / '00000.png')[0] == 1).sum() > 20


@pytest.mark.parametrize('args,match', [
    (['--point', '0,500,10'], 'click (500, 10) lies outside the 96x64 frame'),
    (['--point', '8,10,10'], 'frame 8 is past the end: the video has 8 frames'),
    (['--negative', '0,10,10'], 'give at least one positive click'),
    (['--point', '0,10'], "'0,10' is not F,X,Y"),
])
def test_bad_input_is_one_line_and_leaves_nothing(clip, tmp_path, capsys, args, match):
    frames, _ = clip
    status, err = run_here('remove_object.py', frames, *args, '--out-masks', tmp_path / 'out', '--out-video',
                           tmp_path / 'removed.mp4', capsys=capsys)
    assert status == 2 and err.strip().splitlines()[-1].count('error') == 1
    assert match in err
    assert list(tmp_path.iterdir()) == []


def test_an_undecodable_video_is_named(tmp_path, capsys):
    (tmp_path / 'clip.mp4').write_bytes(b'not a video' * 50)
    status, err = run_here('remove_object.py', tmp_path / 'clip.mp4', '--point', '0,1,1', '--out-video',
                           tmp_path / 'out.mp4', capsys=capsys)
    assert status == 2 and 'remove_object.py: error: cannot read video' in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['clip.mp4']


def test_track_takes_points_instead_of_masks(clip, tmp_path):
    frames, gt = clip
    x, y = interior_points(torch.from_numpy(gt[:1] == 2))[0].tolist()
    proc = run('track.py', frames, '--point', f'0,{x},{y}', '--out', tmp_path / 'out', '--overlay',
               tmp_path / 'overlay.mp4')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [p.name for p in sorted((tmp_path / 'out').iterdir())] == [f'{t:05d}.png' for t in range(8)]
    with av.open(str(tmp_path / 'overlay.mp4')) as container:
        assert sum(1 for _ in container.decode(video=0)) == 8
    torch.manual_seed(0)
    torch.save(XMem(key_dim=16, value_dim=32, hidden_dim=8).state_dict(), tmp_path / 'XMem.pth')
    proc = run('track.py', frames, '--point', f'0,{x},{y}', '--out', tmp_path / 'xmem', '--checkpoint',
               tmp_path / 'XMem.pth')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'tracker: XMemTracker (given)' in proc.stdout + proc.stderr and len(list((tmp_path / 'xmem').iterdir())) == 8



def test_track_wants_masks_or_points(clip, tmp_path, capsys):
    frames, _ = clip
    status, err = run_here('track.py', frames, 'masks/', '--point', '0,1,1', '--out', tmp_path / 'out', capsys=capsys)
    assert status == 2 and 'give MASKS or --point/--box (not both)' in err
    status, err = run_here('track.py', frames, 'masks/', '--out', tmp_path / 'out', capsys=capsys)
    assert status == 2 and 'give --checkpoint' in err
