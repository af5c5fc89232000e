"""Issue 13, inpainting and its evaluation: each bad input is refused with one clear line, nothing is left at or
beside the output, and no run exits 0 with a wrong result (masks read by the documented rule, frames paired by
number, no infinite PSNR in an average)."""
import errno
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
import torch.nn as nn
from PIL import Image

from seg.apis.inpaint import MAX_HOLE_FRACTION, InpaintInputError, inpaint_video
from seg.apis.tool_errors import describe
from seg.evaluation.functional.inpainting_metrics import PSNR_CAP_DB, format_score_table, psnr
from seg.evaluation.inpaint_folders import InpaintFoldersError, evaluate_inpainting_folders
from seg.fileio.atomic import check_writable, remove_stale_parts, remove_stale_parts_in, sigterm_exits, temp_sibling
from seg.fileio.frames import FolderFrames, FolderWriter, VideoWriter

REPO = Path(__file__).resolve().parents[2]
INPAINT_TOOL = REPO / 'tools' / 'inpaint_video.py'
EVAL_TOOL = REPO / 'tools' / 'analysis' / 'inpaint_eval.py'
H, W, T = 24, 32, 6


class FillInpainter(nn.Module):
    """Stand-in inpainter: fills every hole with white (1.0) and counts its windows."""

    fixed_size = None

    def __init__(self):
        super().__init__()
        self.windows = 0

    def inpaint_window(self, frames, masks, num_local_frames):
        self.windows += 1
        local, holes = frames[:num_local_frames], masks[:num_local_frames]
        return local * (1 - holes) + holes


def object_mask() -> np.ndarray:
    """(H, W) bool: a 6x8 object."""
    mask = np.zeros((H, W), bool)
    mask[8:14, 10:18] = True
    return mask


@pytest.fixture
def frames(tmp_path) -> Path:
    """T dark random frames (values < 200, so a white fill is told apart) as PNGs."""
    folder = tmp_path / 'frames'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for t in range(T):
        cv2.imwrite(str(folder / f'{t:05d}.png'), rng.integers(0, 200, (H, W, 3), dtype=np.uint8))
    return folder


def everything_in(folder: Path) -> List[str]:
    """Every name in ``folder``, hidden ``.part`` siblings included."""
    return sorted(p.name for p in folder.iterdir())


def holes_of(out: Path, frames: Path) -> np.ndarray:
    """(T, H, W) bool: the pixels FillInpainter changed (white where the input was not)."""
    result = np.stack([cv2.imread(str(p)) for p in sorted(out.glob('*.png'))])
    source = np.stack([cv2.imread(str(p)) for p in sorted(frames.glob('*.png'))])
    assert np.all((result == source) | (result == 255)), 'only holes change'
    return np.any(result != source, axis=-1)


def run_tool(tool: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(tool)] + [str(a) for a in args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def assert_one_line_error(run: subprocess.CompletedProcess, message: str) -> None:
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if 'error:' in line]
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert 'Traceback' not in run.stderr


# ----------------------------------------------------------------------------------------------
# 1. Masks: the documented rule; a hole covering (nearly) the whole frame is refused
# ----------------------------------------------------------------------------------------------
def test_rgba_mask_with_the_object_in_alpha_removes_the_object_only(frames, tmp_path):
    rgba = np.full((H, W, 4), 255, np.uint8)  # white everywhere; the object is where alpha is opaque
    rgba[..., 3] = object_mask() * 255
    Image.fromarray(rgba, 'RGBA').save(tmp_path / 'mask.png')
    out = inpaint_video(frames, tmp_path / 'mask.png', tmp_path / 'out', inpainter=FillInpainter(), mask_dilation=0,
                        progress=False)
    assert np.array_equal(holes_of(out, frames), np.stack([object_mask()] * T))


def test_palette_mask_with_a_white_entry_0_is_not_inverted(frames, tmp_path):
    image = Image.fromarray(object_mask().astype(np.uint8), 'P')
    image.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)  # index 0 (background) is white, index 1 black
    masks = tmp_path / 'masks'
    masks.mkdir()
    for t in range(T):
        image.save(masks / f'{t:05d}.png')
    out = inpaint_video(frames, masks, tmp_path / 'out', inpainter=FillInpainter(), mask_dilation=0, progress=False)
    assert np.array_equal(holes_of(out, frames), np.stack([object_mask()] * T))


@pytest.mark.parametrize('case', ['all white', 'huge dilation', 'colour frame as mask'])
def test_a_hole_covering_the_frame_is_refused_before_anything_is_written(frames, tmp_path, case):
    mask_file = tmp_path / 'mask.png'
    dilation = 4
    if case == 'all white':
        cv2.imwrite(str(mask_file), np.full((H, W), 255, np.uint8))
        expected = ['100.0%', 'inverted', 'smaller mask dilation (--mask-dilation)']
    elif case == 'huge dilation':
        cv2.imwrite(str(mask_file), object_mask().astype(np.uint8) * 255)
        dilation = 30
        expected = ['100.0%', 'after 30 dilation iterations', 'smaller mask dilation (--mask-dilation)']
    else:
        shutil.copy(frames / '00000.png', mask_file)
        dilation = 0
        expected = ['without dilation', 'colour (RGB) image', 'one-channel mask']
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    inpainter = FillInpainter()
    with pytest.raises(InpaintInputError) as info:
        inpaint_video(frames, mask_file, out_dir / 'result.mp4', inpainter=inpainter, mask_dilation=dilation,
                      progress=False)
    message = str(info.value)
    assert str(mask_file) in message and f'{MAX_HOLE_FRACTION:.0%}' in message
    assert all(text in message for text in expected), message
    assert inpainter.windows == 0 and everything_in(out_dir) == []


def test_a_hole_just_under_the_limit_is_inpainted(frames, tmp_path):
    mask = np.ones((H, W), np.uint8) * 255
    mask[:, :2] = 0  # 30 / 32 columns = 93.75 %
    cv2.imwrite(str(tmp_path / 'mask.png'), mask)
    out = inpaint_video(frames, tmp_path / 'mask.png', tmp_path / 'out', inpainter=FillInpainter(), mask_dilation=0,
                        progress=False)
    assert holes_of(out, frames).mean() == pytest.approx(30 / 32)


# ----------------------------------------------------------------------------------------------
# 2. Option and array values, one message each
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('kwargs, message', [
    (dict(max_side=0), 'max_side must be a positive number of px'),
    (dict(fps=0), 'fps must be a positive number of frames per second'),
    (dict(fps=-25.0), 'fps must be a positive'),
    (dict(fps=math.inf), 'fps must be a positive'),
    (dict(neighbor_stride=0), 'neighbor_stride must be >= 1'),
    (dict(ref_stride=-1), 'ref_stride must be >= 1'),
    (dict(mask_dilation=-2), 'mask_dilation must be >= 0'),
    (dict(resize=(0, 24)), 'resize must be (width, height) with positive whole sides'),
    (dict(resize=(-32, 24)), 'resize must be'),
    (dict(resize=(32.5, 24)), 'resize must be'),
    (dict(masks_source=np.zeros((H, W, 3), np.uint8)), 'colour axis of 3 channels'),
    (dict(masks_source=np.zeros((T, H, W, 4), np.uint8)), 'colour axis of 4 channels'),
    (dict(masks_source=np.zeros((T - 1, H, W), bool)), 'holds 5 masks but the video has 6 frames'),
    (dict(masks_source=np.zeros((H, W + 2), bool)), f'is {H}x{W + 2} (HxW) but the frames are {H}x{W}'),
])
def test_bad_values_have_their_own_message(frames, tmp_path, kwargs, message):
    kwargs = dict(dict(masks_source=np.stack([object_mask()] * T)), **kwargs)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    with pytest.raises(InpaintInputError) as info:
        inpaint_video(frames, out_path=out_dir / 'result.mp4', inpainter=FillInpainter(), progress=False, **kwargs)
    assert message in str(info.value)
    assert everything_in(out_dir) == []


def test_mask_arrays_match_mask_files(frames, tmp_path):
    one = inpaint_video(frames, object_mask(), tmp_path / 'one', inpainter=FillInpainter(), mask_dilation=1,
                        progress=False)
    per_frame = inpaint_video(frames, np.stack([object_mask() * 255] * T).astype(np.uint8), tmp_path / 'per_frame',
                              inpainter=FillInpainter(), mask_dilation=1, progress=False)
    cv2.imwrite(str(tmp_path / 'mask.png'), object_mask().astype(np.uint8) * 255)
    from_file = inpaint_video(frames, tmp_path / 'mask.png', tmp_path / 'file', inpainter=FillInpainter(),
                              mask_dilation=1, progress=False)
    assert np.array_equal(holes_of(one, frames), holes_of(from_file, frames))
    assert np.array_equal(holes_of(per_frame, frames), holes_of(from_file, frames))


# ----------------------------------------------------------------------------------------------
# 3. Outputs that cannot be written: refused before the work, or one clear error mid-run
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write into (for root: immutable via chattr, else skipped)."""
    folder = tmp_path / 'read_only'
    folder.mkdir()
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:  # root ignores the mode bits
        chattr = shutil.which('chattr')
        immutable = chattr is not None and subprocess.run([chattr, '+i', str(folder)]).returncode == 0
        if not immutable:
            folder.chmod(0o755)
            pytest.skip('cannot make a read-only folder here (root without chattr)')
    yield folder
    if immutable:
        subprocess.run([shutil.which('chattr'), '-i', str(folder)], check=True)
    folder.chmod(0o755)


@pytest.mark.parametrize('name', ['out.mp4', 'out', 'new/out.mp4'])
def test_read_only_output_folder_is_refused_before_the_work(frames, read_only_dir, name):
    inpainter = FillInpainter()
    with pytest.raises(InpaintInputError, match='cannot write .* choose a folder you can write to'):
        inpaint_video(frames, object_mask(), read_only_dir / name, inpainter=inpainter, progress=False)
    assert inpainter.windows == 0 and everything_in(read_only_dir) == []


def test_read_only_preview_folder_is_refused_before_the_work(frames, tmp_path, read_only_dir):
    with pytest.raises(InpaintInputError, match='cannot write .*preview.png'):
        inpaint_video(frames, object_mask(), tmp_path / 'out.mp4', preview_path=read_only_dir / 'preview.png',
                      inpainter=FillInpainter(), progress=False)
    assert not (tmp_path / 'out.mp4').exists()


@pytest.mark.parametrize('writer, name', [(FolderWriter, 'out'), (VideoWriter, 'out.mp4')])
def test_disk_full_mid_run_is_one_error_and_leaves_nothing(frames, tmp_path, monkeypatch, writer, name):
    written = []
    original = writer.write

    def write_until_full(self, frame):
        if len(written) == 3:
            raise OSError(errno.ENOSPC, 'No space left on device')
        written.append(1)
        original(self, frame)

    monkeypatch.setattr(writer, 'write', write_until_full)
    out_dir = tmp_path / 'out_dir'
    out_dir.mkdir()
    with pytest.raises(InpaintInputError, match=r'cannot write .*: No space left on device; free some space'):
        inpaint_video(frames, object_mask(), out_dir / name, inpainter=FillInpainter(), progress=False)
    assert everything_in(out_dir) == []


def test_check_writable_names_the_target_and_leaves_nothing(tmp_path, read_only_dir):
    check_writable(tmp_path / 'a' / 'b' / 'out.mp4')  # missing folders: tried in the nearest existing one
    assert everything_in(tmp_path) == ['read_only']
    with pytest.raises(PermissionError) as info:
        check_writable(read_only_dir / 'out.mp4')
    assert info.value.filename == str(read_only_dir / 'out.mp4')
    full = OSError(errno.ENOSPC, 'No space left on device', '/data/out.mp4')
    assert describe(full) == 'cannot write /data/out.mp4: No space left on device; free some space or write elsewhere'
    assert describe(OSError(errno.EIO, 'Input/output error')) is None  # not a user's mistake: keeps its traceback


# ----------------------------------------------------------------------------------------------
# 4. Signals: SIGTERM cleans up; siblings of killed runs are removed on the next start
# ----------------------------------------------------------------------------------------------
def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen(['true'])
    child.wait()
    return child.pid


def test_remove_stale_parts_removes_only_those_of_gone_processes(tmp_path):
    target = tmp_path / 'out.mp4'
    gone, alive = dead_pid(), os.getppid()
    stale_file = tmp_path / f'.out.mp4.{gone}.0a1b2c3d.part'
    stale_file.write_bytes(b'half a video')
    stale_dir = tmp_path / f'.out.mp4.{gone}.deadbeef.part'
    stale_dir.mkdir()
    (stale_dir / '00000.png').write_bytes(b'png')
    kept = [temp_sibling(target), tmp_path / f'.out.mp4.{alive}.00000000.part', tmp_path / f'.other.{gone}.aa.part',
            tmp_path / f'.out.mp4.{gone}.0a1b2c3d.part.bak']
    for path in kept:
        path.write_bytes(b'')
    assert remove_stale_parts(target) == sorted([stale_dir, stale_file])
    assert everything_in(tmp_path) == sorted(p.name for p in kept)
    assert remove_stale_parts(tmp_path / 'missing' / 'out.mp4') == []


def test_remove_stale_parts_in_a_folder_takes_every_target(tmp_path):
    gone, alive = dead_pid(), os.getppid()
    stale = [tmp_path / f'.iter_3.pth.{gone}.0a1b2c3d.part', tmp_path / f'.last_checkpoint.{gone}.ff.part']
    kept = [tmp_path / f'.iter_6.pth.{alive}.0a1b2c3d.part', tmp_path / 'iter_3.pth']
    for path in stale + kept:
        path.write_bytes(b'')
    assert remove_stale_parts_in(tmp_path) == sorted(stale)
    assert everything_in(tmp_path) == sorted(p.name for p in kept)


def test_sigterm_raises_system_exit_inside_the_block_only():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as info:
        with sigterm_exits():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this
    assert info.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_new_run_removes_parts_left_by_a_killed_one(frames, tmp_path):
    out = tmp_path / 'out_dir' / 'out.mp4'
    out.parent.mkdir()
    stale = out.parent / f'.out.mp4.{dead_pid()}.12345678.part'
    stale.write_bytes(b'half a video')
    inpaint_video(frames, object_mask(), out, inpainter=FillInpainter(), progress=False)
    assert everything_in(out.parent) == ['out.mp4']


@pytest.mark.parametrize('name', ['out', 'out.mp4'])
def test_sigterm_mid_run_leaves_nothing(tmp_path, name):
    folder = tmp_path / 'frames'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for t in range(300):  # about 5 s of work: time to be interrupted
        cv2.imwrite(str(folder / f'{t:05d}.png'), rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
    cv2.imwrite(str(tmp_path / 'mask.png'), object_mask().astype(np.uint8) * 255)
    out_dir = tmp_path / 'out_dir'
    out_dir.mkdir()
    run = subprocess.Popen([sys.executable, str(INPAINT_TOOL), str(folder), str(tmp_path / 'mask.png'), '--out',
                            str(out_dir / name)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith('.part') for p in out_dir.iterdir()):
        assert run.poll() is None and time.monotonic() < deadline, 'the run ended before it was interrupted'
        time.sleep(0.02)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM, stderr
    assert 'Traceback' not in stderr
    assert everything_in(out_dir) == []


# ----------------------------------------------------------------------------------------------
# The tool: one line, exit 2, nothing left; --debug shows the traceback
# ----------------------------------------------------------------------------------------------
def test_inpaint_tool_refuses_an_all_white_mask_in_one_line(frames, tmp_path):
    cv2.imwrite(str(tmp_path / 'white.png'), np.full((H, W), 255, np.uint8))
    out_dir = tmp_path / 'out_dir'
    out_dir.mkdir()
    run = run_tool(INPAINT_TOOL, frames, tmp_path / 'white.png', '--out', out_dir / 'out.mp4')
    assert_one_line_error(run, 'covers 100.0% of its frame')
    assert everything_in(out_dir) == []
    debug = run_tool(INPAINT_TOOL, frames, tmp_path / 'white.png', '--out', out_dir / 'out.mp4', '--debug')
    assert debug.returncode != 0 and 'Traceback' in debug.stderr and 'InpaintInputError' in debug.stderr
    assert everything_in(out_dir) == []


def test_inpaint_tool_refuses_a_read_only_output_folder_in_one_line(frames, tmp_path, read_only_dir):
    cv2.imwrite(str(tmp_path / 'mask.png'), object_mask().astype(np.uint8) * 255)
    run = run_tool(INPAINT_TOOL, frames, tmp_path / 'mask.png', '--out', read_only_dir / 'out.mp4')
    assert_one_line_error(run, f'cannot write {read_only_dir / "out.mp4"}')
    assert everything_in(read_only_dir) == []


# ----------------------------------------------------------------------------------------------
# 5. Evaluation: frames paired by number, names that do not correspond refused, no infinite PSNR in averages
# ----------------------------------------------------------------------------------------------
def write_frames(folder: Path, images, names) -> None:
    folder.mkdir(parents=True)
    for image, name in zip(images, names):
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


@pytest.fixture
def twelve(tmp_path):
    """(gt_dir, pred_dir, gt, pred): 12 frames named 0.png .. 11.png in the ground truth, 00000.png .. in the
    completed video; completed frames 0, 2, 4, ... equal the ground truth (PSNR inf), the others are damaged."""
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (12, 72, 80, 3), dtype=np.uint8)
    pred = gt.copy()
    for t in range(1, 12, 2):
        pred[t, :4, :4] = 128 + t
    write_frames(tmp_path / 'gt' / 'video', gt, [f'{t}.png' for t in range(12)])
    write_frames(tmp_path / 'pred' / 'video', pred, [f'{t:05d}.png' for t in range(12)])
    return tmp_path / 'gt', tmp_path / 'pred', gt, pred


def test_frames_are_paired_by_number_and_identical_frames_are_capped(twelve):
    gt_dir, pred_dir, gt, pred = twelve
    assert FolderFrames(gt_dir / 'video').names[:3] == ['0.png', '1.png', '2.png']  # not 0, 1, 10, 11, 2
    summary = evaluate_inpainting_folders(str(gt_dir), str(pred_dir))
    frame_psnr = [psnr(g, p) for g, p in zip(gt, pred)]
    assert sum(math.isinf(v) for v in frame_psnr) == 6
    expected = np.mean([min(v, PSNR_CAP_DB) for v in frame_psnr])
    assert summary['overall']['PSNR'] == pytest.approx(expected) and math.isfinite(expected)
    assert summary['overall']['psnr_capped_frames'] == 6
    assert summary['videos']['video']['psnr_capped_frames'] == 6
    assert summary['overall']['SSIM'] < 1
    assert format_score_table(summary).splitlines()[-1].startswith('PSNR: 6 frame(s) scored above 100 dB')


@pytest.mark.parametrize('pred_names, message', [
    ([f'{t + 1:05d}.png' for t in range(12)], 'ground truth 0.png is paired with completed 00001.png'),
    ([f'frame_{t}.png' for t in range(12)], 'frame names do not correspond (by name without the suffix)'),
    ([f'{t}.png' for t in range(11)], '12 ground-truth frames but 11 completed frames'),
    ([f'{t}.png' for t in range(11)] + ['010.png'], 'two completed frames are frame 10'),
    ('small', "frames are 40x80, but SSIM's 65x65 window (the official one) needs at least 65 px"),
])
def test_frames_that_do_not_correspond_are_refused(twelve, pred_names, message):
    gt_dir, pred_dir, gt, pred = twelve
    if pred_names == 'small':
        pred_names, pred = [f'{t}.png' for t in range(12)], pred[:, :40]
        shutil.rmtree(gt_dir / 'video')
        write_frames(gt_dir / 'video', gt[:, :40], pred_names)
    shutil.rmtree(pred_dir / 'video')
    write_frames(pred_dir / 'video', pred, pred_names)
    with pytest.raises(InpaintFoldersError) as info:
        evaluate_inpainting_folders(str(gt_dir), str(pred_dir))
    assert message in str(info.value)


def test_eval_tool_refuses_in_one_line_and_writes_no_json(twelve, tmp_path):
    gt_dir, pred_dir, _, _ = twelve
    (pred_dir / 'video' / '00003.png').rename(pred_dir / 'video' / '00012.png')
    out = tmp_path / 'scores' / 'eval.json'
    run = run_tool(EVAL_TOOL, '--gt', gt_dir, '--pred', pred_dir, '--json', out)
    assert_one_line_error(run, 'ground truth 3.png is paired with completed 00004.png')
    assert not out.parent.exists()


def test_eval_tool_checks_the_json_folder_first_and_writes_finite_scores(twelve, tmp_path, read_only_dir):
    gt_dir, pred_dir, _, _ = twelve
    run = run_tool(EVAL_TOOL, '--gt', gt_dir, '--pred', pred_dir, '--json', read_only_dir / 'eval.json')
    assert_one_line_error(run, str(read_only_dir / 'eval.json'))
    assert 'video' not in run.stdout  # refused before scoring: no table
    out = tmp_path / 'eval.json'
    run = run_tool(EVAL_TOOL, '--gt', gt_dir, '--pred', pred_dir, '--json', out)
    assert run.returncode == 0, run.stderr
    assert 'count 100 dB in the averages' in run.stdout
    scores = json.loads(out.read_text(), parse_constant=lambda name: pytest.fail(f'{name} in the json'))
    assert math.isfinite(scores['overall']['PSNR']) and scores['overall']['psnr_capped_frames'] == 6
