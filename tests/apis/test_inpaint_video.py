"""seg.apis.inpaint: streaming windows as official E2FGVI test.py, outputs, sizes, and clear input errors."""
import logging
from pathlib import Path
from typing import List, Tuple

import av
import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from seg.apis import inpaint as inpaint_api
from seg.apis.inpaint import InpaintInputError, init_inpainter, inpaint_video, processing_size
from seg.fileio import InputError
from seg.fileio.frames import VideoFrames
from seg.toy_data import render_video
from seg.models.e2fgvi.e2fgvi_inpainter import E2FGVIInpainter, generator_state_dict
from seg.models.propainter import ProPainterInpainter
from seg.registry import MODELS

HEIGHT, WIDTH, NUM_FRAMES = 48, 80, 12


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------
def write_pngs(folder: Path, images) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(images):
        cv2.imwrite(str(folder / f'{t:05d}.png'), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image)
    return folder


def write_video(path: Path, frames: np.ndarray) -> Path:
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=10)
        stream.codec_context.height, stream.codec_context.width = frames.shape[1:3]
        stream.codec_context.pix_fmt = 'yuv420p'
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def read_video(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format='rgb24') for f in container.decode(video=0)])


def read_pngs(folder: Path) -> np.ndarray:
    return np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob('*.png'))])


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    """A toy clip as PNG frames, an .mp4 and an .mkv, with the masks of object 1."""
    root = tmp_path_factory.mktemp('clip')
    video = render_video(0, num_frames=NUM_FRAMES, height=HEIGHT, width=WIDTH, num_objects=2)
    masks = (video.masks == 1).astype(np.uint8) * 255
    return dict(frames=write_pngs(root / 'frames', video.frames), masks=write_pngs(root / 'masks', masks),
                mp4=write_video(root / 'clip.mp4', video.frames), mkv=write_video(root / 'clip.mkv', video.frames),
                rgb=video.frames, holes=masks > 0, root=root)


def uniform_clip(root: Path, num_frames: int, height: int = HEIGHT, width: int = WIDTH) -> Tuple[Path, Path]:
    """Frame i is the grey level 10 + 4 i (so a window's frames can be identified); one small hole per frame."""
    frames = [np.full((height, width, 3), 10 + 4 * i, np.uint8) for i in range(num_frames)]
    masks = np.zeros((num_frames, height, width), np.uint8)
    masks[:, height // 2:height // 2 + 6, width // 2:width // 2 + 6] = 255
    return write_pngs(root / 'frames', frames), write_pngs(root / 'masks', masks)


def frame_id(value: float) -> int:
    """Inverse of :func:`uniform_clip`'s grey level, from a value in [0, 1]."""
    return int(round((value * 255 - 10) / 4))


class RecordingInpainter(nn.Module):
    """Stand-in inpainter: records every window and fills its holes with 40, 80, 120, ... (/255) per window."""

    fixed_size = None

    def __init__(self, fail_at_window: int = -1):
        super().__init__()
        self.windows: List[Tuple[List[int], int, Tuple[int, ...]]] = []
        self.fail_at_window = fail_at_window

    def inpaint_window(self, frames, masks, num_local_frames):
        if len(self.windows) == self.fail_at_window:
            raise RuntimeError('inpainter failed mid-video')
        self.windows.append(([frame_id(v) for v in frames[:, 0, 0, 0].tolist()], num_local_frames,
                             tuple(frames.shape)))
        fill = 40 * len(self.windows) / 255
        local, holes = frames[:num_local_frames], masks[:num_local_frames]
        return local * (1 - holes) + fill * holes


# ----------------------------------------------------------------------------------------------
# Windows: official test.py indices
# ----------------------------------------------------------------------------------------------
def test_windows_overlap_blend_and_write_every_frame(tmp_path):
    frames, masks = uniform_clip(tmp_path, 11)
    inpainter = RecordingInpainter()
    out = inpaint_video(frames, masks, tmp_path / 'out', inpainter=inpainter, mask_dilation=0, progress=False)
    assert [w[0] for w in inpainter.windows] == [[0, 1, 2, 3, 4, 5, 10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                                                 [5, 6, 7, 8, 9, 10, 0]]
    assert [w[1] for w in inpainter.windows] == [6, 11, 6]
    result = read_pngs(out)
    hole = cv2.imread(str(masks / '00000.png'), cv2.IMREAD_GRAYSCALE) > 0
    # Windows fill 40, 80, 120; official blending: first prediction, then 0.5 * old + 0.5 * new.
    expected = [60] * 5 + [90] + [100] * 5
    assert [int(np.median(frame[hole])) for frame in result] == expected
    for i, frame in enumerate(result):
        assert np.all(frame[~hole] == 10 + 4 * i)


def test_e2fgvi_inpainter_gets_the_official_windows(tmp_path):
    @MODELS.register_module(name='RecordingHQGenerator', force=True)
    class RecordingHQGenerator(nn.Module):
        size_divisor = (60, 108)

        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))
            self.calls = []

        def forward(self, masked_frames, num_local_frames):
            b, t, _, h, w = masked_frames.shape
            self.calls.append(([frame_id((v + 1) / 2) for v in masked_frames[0, :, 0, 0, 0].tolist()],
                               num_local_frames, (h, w)))
            return masked_frames.new_zeros(b * t, 3, h, w), (None, None)

    frames, masks = uniform_clip(tmp_path, 23, height=40, width=70)
    inpainter = E2FGVIInpainter(dict(type='RecordingHQGenerator'))
    out = inpaint_video(frames, masks, tmp_path / 'out.mp4', inpainter=inpainter, ref_radius=100, progress=False)
    calls = inpainter.generator.calls
    # Official test.py, num_ref -1: frames f-5..f+5 and every 10th frame of the video that is not among them.
    official = [(list(range(max(0, f - 5), min(23, f + 6))), [i for i in range(0, 23, 10) if not f - 5 <= i <= f + 5])
                for f in range(0, 23, 5)]
    assert [(c[0][:c[1]], c[0][c[1]:]) for c in calls] == official
    assert all(c[2] == (60, 108) for c in calls), 'HQ clips are mirror-padded to multiples of (60, 108)'
    video = read_video(out)
    assert video.shape == (23, 40, 70, 3)


def test_fixed_size_generator_gets_resized_frames_and_output_keeps_source_size(tmp_path):
    @MODELS.register_module(name='RecordingFixedGenerator', force=True)
    class RecordingFixedGenerator(nn.Module):
        fixed_size = (240, 432)

        def __init__(self):
            super().__init__()
            self.sizes = []

        def forward(self, masked_frames, num_local_frames):
            b, t, _, h, w = masked_frames.shape
            self.sizes.append((h, w))
            return -masked_frames.new_ones(b * t, 3, h, w), (None, None)

    frames, masks = uniform_clip(tmp_path, 6)
    inpainter = E2FGVIInpainter(dict(type='RecordingFixedGenerator'))
    result = read_pngs(inpaint_video(frames, masks, tmp_path / 'out', inpainter=inpainter, progress=False))
    assert set(inpainter.generator.sizes) == {(240, 432)}
    assert result.shape == (6, HEIGHT, WIDTH, 3)
    hole = cv2.imread(str(masks / '00000.png'), cv2.IMREAD_GRAYSCALE) > 0
    assert np.all(result[:, hole] == 0), 'the generator predicted black (-1) inside the holes'
    with pytest.raises(ValueError, match='240x432'):
        inpainter.inpaint_window(torch.zeros(3, 3, 48, 80), torch.zeros(3, 1, 48, 80), 2)


def test_real_hq_generator_window_keeps_known_pixels():
    inpainter = E2FGVIInpainter(dict(type='E2FGVIHQGenerator')).eval()
    frames = torch.rand(4, 3, 50, 100)
    masks = torch.zeros(4, 1, 50, 100)
    masks[:, :, 10:30, 20:60] = 1
    out = inpainter.inpaint_window(frames, masks, 3)
    assert out.shape == (3, 3, 50, 100) and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out * (1 - masks[:3]), frames[:3] * (1 - masks[:3]))


def test_e2fgvi_checkpoints_load_strictly(tmp_path):
    @MODELS.register_module(name='TinyGenerator', force=True)
    class TinyGenerator(nn.Module):
        size_divisor = (4, 4)

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

    weights = {k: torch.randn_like(v) for k, v in TinyGenerator().state_dict().items()}
    layouts = dict(plain=weights, mmengine={'state_dict': weights, 'meta': {}},
                   training={'state_dict': {**{f'generator.{k}': v for k, v in weights.items()},
                                            'discriminator.conv.weight': torch.zeros(1)}},
                   data_parallel={f'module.{k}': v for k, v in weights.items()})
    for name, checkpoint in layouts.items():
        torch.save(checkpoint, tmp_path / f'{name}.pth')
        inpainter = E2FGVIInpainter(dict(type='TinyGenerator'), checkpoint=str(tmp_path / f'{name}.pth'))
        assert torch.equal(inpainter.generator.conv.weight, weights['conv.weight']), name
    assert generator_state_dict(layouts['training']).keys() == weights.keys()
    torch.save({'conv.weight': weights['conv.weight']}, tmp_path / 'partial.pth')
    with pytest.raises(RuntimeError, match='conv.bias'):
        E2FGVIInpainter(dict(type='TinyGenerator'), checkpoint=str(tmp_path / 'partial.pth'))


# ----------------------------------------------------------------------------------------------
# End to end with the default inpainter
# ----------------------------------------------------------------------------------------------
def test_mp4_in_mp4_out_with_preview(clip, tmp_path):
    out = inpaint_video(clip['mp4'], clip['masks'], tmp_path / 'out.mp4', preview_path=tmp_path / 'preview.png',
                        progress=False)
    video = read_video(out)
    assert video.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3)
    preview = cv2.imread(str(tmp_path / 'preview.png'))
    assert preview.shape == (HEIGHT, 2 * WIDTH, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['out.mp4', 'preview.png'], 'no temporary files left'


def test_frame_folder_output_keeps_known_pixels(clip, tmp_path):
    out = inpaint_video(clip['frames'], clip['masks'], tmp_path / 'frames_out', progress=False)
    result = read_pngs(out)
    assert result.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3)
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    for t in range(NUM_FRAMES):
        hole = cv2.dilate(clip['holes'][t].astype(np.uint8), kernel, iterations=4) > 0
        assert np.array_equal(result[t][~hole], clip['rgb'][t][~hole])
        assert not np.array_equal(result[t][hole], clip['rgb'][t][hole])


def test_mkv_without_frame_count_and_single_mask(clip, tmp_path):
    assert VideoFrames(clip['mkv']).num_frames == NUM_FRAMES  # counted by demuxing: the container has no count
    single = clip['root'] / 'masks' / '00003.png'
    out = inpaint_video(clip['mkv'], single, tmp_path / 'out', progress=False)
    assert len(list(out.glob('*.png'))) == NUM_FRAMES


def test_resize_accepts_masks_of_another_size(clip, tmp_path):
    small = write_pngs(tmp_path / 'small_masks', [cv2.resize(m.astype(np.uint8) * 255, (20, 12),
                                                             interpolation=cv2.INTER_NEAREST) for m in clip['holes']])
    out = inpaint_video(clip['frames'], small, tmp_path / 'out.mp4', resize=(40, 24), progress=False)
    assert read_video(out).shape == (NUM_FRAMES, 24, 40, 3)


def test_large_frames_are_inpainted_downscaled_and_only_holes_replaced(tmp_path):
    frames, masks = uniform_clip(tmp_path, 6)
    inpainter = RecordingInpainter()
    out = inpaint_video(frames, masks, tmp_path / 'out', inpainter=inpainter, max_side=40, mask_dilation=0,
                        progress=False)
    assert {w[2][2:] for w in inpainter.windows} == {(24, 40)}
    result = read_pngs(out)
    assert result.shape == (6, HEIGHT, WIDTH, 3)
    hole = cv2.imread(str(masks / '00000.png'), cv2.IMREAD_GRAYSCALE) > 0
    for i, frame in enumerate(result):
        assert np.all(frame[~hole] == 10 + 4 * i), 'known pixels keep their full-resolution values'
        assert np.all(frame[hole] != 10 + 4 * i)
    assert processing_size((2160, 3840), None, 1280) == (720, 1280)
    assert processing_size((2160, 3840), (240, 432), 1280) == (240, 432)
    assert processing_size((480, 854), None, 1280) == (480, 854)


# ----------------------------------------------------------------------------------------------
# Bad input: one clear error, nothing written
# ----------------------------------------------------------------------------------------------
def bad_inputs(clip, tmp: Path):
    few = write_pngs(tmp / 'few', [np.full((HEIGHT, WIDTH), 255, np.uint8)] * (NUM_FRAMES - 1))
    wrong_size = write_pngs(tmp / 'wrong_size', [np.full((HEIGHT, WIDTH + 2), 255, np.uint8)] * NUM_FRAMES)
    empty = write_pngs(tmp / 'empty', [np.zeros((HEIGHT, WIDTH), np.uint8)] * NUM_FRAMES)
    garbage = tmp / 'garbage.mp4'
    garbage.write_bytes(b'this is no video' * 64)
    return {
        'mask count': (dict(frames_source=clip['frames'], masks_source=few), '11 PNG masks but the video has 12'),
        'mask size': (dict(frames_source=clip['frames'], masks_source=wrong_size), 'frames are 48x80'),
        'empty masks': (dict(frames_source=clip['mp4'], masks_source=empty), 'nothing to remove'),
        'unreadable video': (dict(frames_source=garbage, masks_source=clip['masks']), 'cannot read video'),
        'missing frames': (dict(frames_source=tmp / 'nope.mp4', masks_source=clip['masks']), 'not found'),
        'missing masks': (dict(frames_source=clip['frames'], masks_source=tmp / 'nope'), 'not found'),
        'fp16 on cpu': (dict(frames_source=clip['frames'], masks_source=clip['masks'], fp16=True), 'CUDA'),
        'bad resize': (dict(frames_source=clip['frames'], masks_source=clip['masks'], resize=(0, 5)), 'resize'),
        'fp16 and bf16': (dict(frames_source=clip['frames'], masks_source=clip['masks'], bf16=True, fp16=True,
                               device='cuda' if torch.cuda.is_available() else 'cpu'), 'exclude each other'),
    }


@pytest.mark.parametrize('case', ['mask count', 'mask size', 'empty masks', 'unreadable video', 'missing frames',
                                  'missing masks', 'fp16 on cpu', 'bad resize', 'fp16 and bf16'])
@pytest.mark.parametrize('suffix', ['.mp4', ''])
def test_bad_input_raises_before_writing(clip, tmp_path, case, suffix):
    kwargs, message = bad_inputs(clip, tmp_path / 'inputs')[case]
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    with pytest.raises(InputError, match=message):
        inpaint_video(out_path=out_dir / f'result{suffix}', preview_path=out_dir / 'preview.png', progress=False,
                      **kwargs)
    assert list(out_dir.iterdir()) == []


def test_existing_output_folder_is_refused_and_kept(clip, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    with pytest.raises(InpaintInputError, match='not empty'):
        inpaint_video(clip['frames'], clip['masks'], out, progress=False)
    assert [p.name for p in out.iterdir()] == ['keep.txt']
    with pytest.raises(InpaintInputError, match='is one of the inputs'):
        inpaint_video(clip['frames'], clip['masks'], clip['frames'], progress=False)


@pytest.mark.parametrize('name', ['out.mp4', 'out'])
def test_failure_mid_video_leaves_previous_output_untouched(tmp_path, name):
    frames, masks = uniform_clip(tmp_path / 'in', 16)
    out_dir = tmp_path / 'out_dir'
    out_dir.mkdir()
    target = out_dir / name
    if name.endswith('.mp4'):
        target.write_bytes(b'previous result')
    with pytest.raises(RuntimeError, match='mid-video'):
        inpaint_video(frames, masks, target, inpainter=RecordingInpainter(fail_at_window=2), progress=False)
    expected = ['out.mp4'] if name.endswith('.mp4') else []
    assert [p.name for p in out_dir.iterdir()] == expected, 'no temporary output is left behind'
    if name.endswith('.mp4'):
        assert target.read_bytes() == b'previous result'


# ----------------------------------------------------------------------------------------------
# ProPainter by name
# ----------------------------------------------------------------------------------------------
def test_propainter_with_random_weights_says_so_loudly(monkeypatch):
    logged = []
    monkeypatch.setattr(inpaint_api, 'print_log', lambda msg, logger=None, level=None: logged.append((msg, level)))
    inpainter = init_inpainter(model='propainter', random_weights=True)
    assert isinstance(inpainter, ProPainterInpainter) and not inpainter.training
    assert any('RANDOM WEIGHTS' in msg and level == logging.WARNING for msg, level in logged)


@pytest.mark.parametrize('kwargs, message', [
    (dict(model='propainter', weights_dir='absent'), 'raft-things.pth, recurrent_flow_completion.pth, ProPainter.pth'),
    (dict(model='propainter', random_weights=True, weights_dir='w'), 'exclude each other'),
    (dict(model='propainter', config='c.py'), 'drop the config'),
    (dict(model='e2fgvi'), "unknown model 'e2fgvi'"),
    (dict(random_weights=True), 'belong to a named model'),
])
def test_propainter_options_are_checked(kwargs, message):
    with pytest.raises(InputError, match=message):
        init_inpainter(**kwargs)


def test_bf16_runs_on_cpu(clip, tmp_path):
    out = inpaint_video(clip['frames'], clip['masks'], tmp_path / 'out', bf16=True, progress=False)
    result, source = read_pngs(out), read_pngs(clip['frames'])
    assert result.shape == source.shape
