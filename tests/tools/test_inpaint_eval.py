"""tools/analysis/inpaint_eval.py and evaluate_inpainting_folders: scores of frame folders,
the printed table, the atomically written json, VFID with local weights, and clear errors."""
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from seg.toy_data import render_video
from seg.evaluation.functional.i3d import InceptionI3d
from seg.evaluation.functional.inpainting_metrics import psnr, ssim, warping_error
from seg.evaluation.inpaint_folders import evaluate_inpainting_folders, read_frame_folder

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis' / 'inpaint_eval.py'
NUM_FRAMES, H, W = 4, 72, 80


def load_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('inpaint_eval_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_video(folder, frames):
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{t:05d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def damaged(frames, seed):
    """The frames with a grey box pasted in (a crude completion)."""
    out = frames.copy()
    rng = np.random.default_rng(seed)
    top, left = rng.integers(0, H - 20), rng.integers(0, W - 20)
    out[:, top:top + 20, left:left + 20] = 128
    return out


@pytest.fixture
def folders(tmp_path):
    """(gt_dir, pred_dir, {video: (gt, pred)}) with three toy videos."""
    videos = {}
    for i, name in enumerate(('bear', 'car', 'dog')):
        gt = render_video(i, NUM_FRAMES, H, W).frames
        pred = damaged(gt, i)
        write_video(tmp_path / 'gt' / name, gt)
        write_video(tmp_path / 'pred' / name, pred)
        videos[name] = (gt, pred)
    return tmp_path / 'gt', tmp_path / 'pred', videos


def test_scores_equal_the_functional_metrics(folders):
    gt_dir, pred_dir, videos = folders
    summary = evaluate_inpainting_folders(str(gt_dir), str(pred_dir), ewarp=True)
    assert list(summary['videos']) == ['bear', 'car', 'dog']
    gt, pred = videos['car']
    car = summary['videos']['car']
    assert car['num_frames'] == NUM_FRAMES
    assert car['PSNR'] == pytest.approx(np.mean([psnr(g, p) for g, p in zip(gt, pred)]))
    assert car['SSIM'] == pytest.approx(np.mean([ssim(g, p) for g, p in zip(gt, pred)]))
    assert car['E_warp'] == pytest.approx(warping_error(pred, gt))
    all_psnr = [psnr(g, p) for gt, pred in videos.values() for g, p in zip(gt, pred)]
    assert summary['overall']['PSNR'] == pytest.approx(np.mean(all_psnr))
    assert summary['overall']['num_videos'] == 3 and summary['overall']['num_frames'] == 3 * NUM_FRAMES
    assert 'VFID' not in summary['overall']


def test_cli_prints_a_table_and_writes_json(folders, tmp_path):
    gt_dir, pred_dir, _ = folders
    out = tmp_path / 'scores' / 'eval.json'
    run = subprocess.run([sys.executable, str(TOOL), '--gt', str(gt_dir), '--pred', str(pred_dir), '--json', str(out)],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith('video')):]  # after import logs
    assert lines[0].split() == ['video', 'frames', 'PSNR', 'SSIM']
    assert [line.split()[0] for line in lines[2:5]] == ['bear', 'car', 'dog']
    written = json.loads(out.read_text())
    expected = evaluate_inpainting_folders(str(gt_dir), str(pred_dir))
    assert written['overall'] == pytest.approx(expected['overall'])
    assert written['videos']['dog'] == pytest.approx(expected['videos']['dog'])
    assert not [p for p in out.parent.iterdir() if p.name != 'eval.json']  # no temporary file left


def test_vfid_with_local_weights_and_skipped_without(folders, tmp_path, monkeypatch):
    gt_dir, pred_dir, _ = folders
    weights = tmp_path / 'i3d_rgb_imagenet.pt'
    torch.manual_seed(0)
    torch.save(InceptionI3d().state_dict(), weights)
    out = tmp_path / 'vfid.json'
    tool = load_tool()
    assert tool.main(['--gt', str(gt_dir), '--pred', str(pred_dir), '--i3d', str(weights), '--json', str(out)]) == 0
    vfid = json.loads(out.read_text())['overall']['VFID']
    assert math.isfinite(vfid) and vfid >= -1e-6
    assert tool.main(['--gt', str(gt_dir), '--pred', str(pred_dir), '--i3d', str(tmp_path / 'absent.pt'), '--json',
                      str(out)]) == 0
    assert json.loads(out.read_text())['overall']['VFID'] is None


@pytest.mark.parametrize('damage, message', [
    ('missing_video', r'1 ground-truth videos have no folder in .*pred.*\[\'dog\'\]'),
    ('missing_frame', r"'car': 4 ground-truth frames but 3 completed frames"),
    ('resized', r"'bear': ground-truth frames are 72x80 but completed frames 36x40"),
    ('no_pred_root', r'prediction folder .* does not exist'),
])
def test_clear_errors(folders, damage, message, capsys):
    gt_dir, pred_dir, videos = folders
    if damage == 'missing_video':
        for f in (pred_dir / 'dog').iterdir():
            f.unlink()
        (pred_dir / 'dog').rmdir()
    elif damage == 'missing_frame':
        (pred_dir / 'car' / '00003.png').unlink()
    elif damage == 'resized':
        write_video(pred_dir / 'bear', np.stack([cv2.resize(f, (W // 2, H // 2)) for f in videos['bear'][1]]))
    else:
        pred_dir = pred_dir.parent / 'nowhere'
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        evaluate_inpainting_folders(str(gt_dir), str(pred_dir))
    assert load_tool().main(['--gt', str(gt_dir), '--pred', str(pred_dir)]) == 2
    assert capsys.readouterr().err.count('error:') == 1


def test_read_frame_folder_rejects_mixed_sizes(tmp_path):
    write_video(tmp_path / 'v', [np.zeros((8, 8, 3), np.uint8)])
    cv2.imwrite(str(tmp_path / 'v' / '00001.png'), np.zeros((4, 8, 3), np.uint8))
    with pytest.raises(ValueError, match='need one size'):
        read_frame_folder(str(tmp_path / 'v'))
