"""tools/inpaint_video.py: a thin shell over seg.apis.inpaint; bad input exits with status 2 and the reason."""
import importlib.util
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from seg.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'inpaint_video.py'
spec = importlib.util.spec_from_file_location('inpaint_video_tool', TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

HEIGHT, WIDTH, NUM_FRAMES = 32, 48, 6


@MODELS.register_module(name='ToolTestGenerator', force=True)
class ToolTestGenerator(nn.Module):
    """Stand-in HQ generator: predicts mid-grey everywhere; one learned parameter to load."""

    size_divisor = (4, 4)

    def __init__(self):
        super().__init__()
        self.level = nn.Parameter(torch.zeros(()))

    def forward(self, masked_frames, num_local_frames):
        b, t, c, h, w = masked_frames.shape
        return masked_frames.new_zeros(b * t, c, h, w) + self.level, (None, None)


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    frames, masks = tmp_path / 'frames', tmp_path / 'masks'
    frames.mkdir()
    masks.mkdir()
    for t in range(NUM_FRAMES):
        cv2.imwrite(str(frames / f'{t:05d}.png'), rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        mask[10:20, 15 + t:25 + t] = 255
        cv2.imwrite(str(masks / f'{t:05d}.png'), mask)
    return frames, masks


def test_default_inpainter_with_preview_and_resize(inputs, tmp_path):
    frames, masks = inputs
    out = tmp_path / 'out.mp4'
    assert tool.main([str(frames), str(masks), '--out', str(out), '--resize', '24x16', '--preview',
                      str(tmp_path / 'preview.png')]) == 0
    video = cv2.VideoCapture(str(out))
    size = (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT))
    assert video.get(cv2.CAP_PROP_FRAME_COUNT) == NUM_FRAMES and size == (24, 16)
    assert cv2.imread(str(tmp_path / 'preview.png')).shape == (16, 48, 3)


@pytest.mark.parametrize('layout', ['inpainter', 'training'])
def test_config_and_weights(inputs, tmp_path, layout):
    frames, masks = inputs
    config = tmp_path / 'inpainter_cfg.py'
    if layout == 'inpainter':
        config.write_text("model = dict(type='E2FGVIInpainter', generator=dict(type='ToolTestGenerator'))\n")
    else:
        config.write_text("model = dict(type='SomeTrainingModel', generator=dict(type='ToolTestGenerator'))\n")
    weights = tmp_path / 'w.pth'
    torch.save({'state_dict': {'generator.level': torch.tensor(0.6)}}, weights)  # (0.6 + 1) / 2 = 0.8 -> 204
    out = tmp_path / 'out'
    assert tool.main([str(frames), str(masks), '--out', str(out), '--config', str(config), '--weights',
                      str(weights), '--mask-dilation', '0']) == 0
    result = cv2.imread(str(out / '00002.png'))
    hole = cv2.imread(str(masks / '00002.png'), cv2.IMREAD_GRAYSCALE) > 0
    assert np.all(result[hole] == 204)


@pytest.mark.parametrize('extra, message', [
    ([], '5 PNG masks but the video has 6'),
    (['--fp16'], 'CUDA'),
    (['--config', 'missing_cfg.py'], 'config missing_cfg.py not found'),
    (['--config', 'CFG'], 'has learned weights; pass the weights file'),
])
def test_input_errors_exit_2_with_the_reason(inputs, tmp_path, capsys, extra, message):
    frames, masks = inputs
    if not extra:
        (masks / '00005.png').unlink()
    if 'CFG' in extra:
        config = tmp_path / 'e2fgvi_cfg.py'
        config.write_text("model = dict(type='E2FGVIInpainter', generator=dict(type='ToolTestGenerator'))\n")
        extra = ['--config', str(config)]
    out = tmp_path / 'out.mp4'
    assert tool.main([str(frames), str(masks), '--out', str(out)] + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('error:') == 1
    assert not out.exists()


@pytest.mark.parametrize('extra, message', [
    (['--resize', '12by4'], 'WIDTHxHEIGHT'),
    (['--weights', 'w.pth'], '--weights needs the --config'),
])
def test_argument_errors_exit_2(inputs, tmp_path, capsys, extra, message):
    frames, masks = inputs
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(frames), str(masks), '--out', str(tmp_path / 'out.mp4')] + extra)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_process_exit_status(inputs, tmp_path, python_exe):
    frames, _ = inputs
    empty = tmp_path / 'empty.png'
    cv2.imwrite(str(empty), np.zeros((HEIGHT, WIDTH), np.uint8))
    run = subprocess.run([python_exe, str(TOOL), str(frames), str(empty), '--out', str(tmp_path / 'out.mp4')],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 2
    assert 'nothing to remove' in run.stderr
    assert 'Traceback' not in run.stderr
