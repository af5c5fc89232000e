"""Remove masked objects from a video of any length, streaming: frames in, completed frames out.

:func:`inpaint_video` runs any inpainter with the window method
``inpaint_window(frames (T, 3, H, W) in [0, 1], masks (T, 1, H, W) 0/1, num_local_frames)
-> (num_local_frames, 3, H, W) in [0, 1]`` (``FlowPropagationInpainter``,
``E2FGVIInpainter``) over the video the way E2FGVI's official ``test.py`` does:

* Windows start at ``f = 0, s, 2s, ...`` (``s = neighbor_stride``); the local
  (neighbour) frames are ``max(0, f - s) .. min(L - 1, f + s)``, followed by the
  reference frames of :func:`~seg.models.utils.inpainting_windows.reference_ids`.
* A frame predicted by several windows is blended as the official script does:
  the first prediction, then ``0.5 * previous + 0.5 * new`` for each later one
  (:func:`~seg.models.utils.inpainting_windows.sliding_windows` and
  :class:`~seg.models.utils.inpainting_windows.WindowBlender`, which E2FGVI's
  whole-video evaluation uses too).

Unlike ``test.py``, which holds the whole video in memory and (by default) takes
every ``ref_stride``-th frame of the whole video as a reference, references are
restricted to ``ref_radius`` frames around the window's centre. Every window
then only needs frames in ``[f - R, f + R]`` (``R = max(s, reach)``, the reach
being ``ref_radius`` or less), so frames are decoded lazily, kept while a later
window may need them, and each output frame is written as soon as no later
window predicts it (window ``f + s`` only predicts frames ``>= f``) and then
freed: memory is bounded by the window span, not the video length.

Sizes: the output has the source's size, or ``resize``. The inpainter works at
a *processing size*: the generator's fixed size for non-HQ E2FGVI (240x432), a
downscaled size when the longer side exceeds ``max_side``, the output size
otherwise. When the two differ, the completed frame is upscaled and only the
hole pixels (at output resolution) are taken from it: known pixels keep the full
resolution of the source.

Output is encoded with PyAV (libx264) for a video suffix, or written as
``00000.png, ...`` into a folder otherwise. It goes to a temporary sibling that is
renamed into place at the end (:func:`~seg.fileio.atomic.atomic_path`), so an
error never leaves a half-written result.
Every input is checked before anything is written (:class:`InpaintInputError`).
"""
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from PIL import Image
from tqdm import tqdm

from seg.fileio.atomic import atomic_path, atomic_write_bytes
from seg.fileio.errors import InputError
from seg.fileio.frames import IMAGE_SUFFIXES, VIDEO_FORMATS, FolderWriter, VideoWriter, open_frames
from seg.models.e2fgvi.e2fgvi_inpainter import E2FGVIInpainter
from seg.models.inpainters.flow_propagation_inpainter import FlowPropagationInpainter
from seg.models.utils.inpainting_windows import (ALL_REFERENCES, DEFAULT_NEIGHBOR_STRIDE, DEFAULT_REF_STRIDE,
                                                 WindowBlender, reference_reach, sliding_windows)
from seg.registry import MODELS
from seg.visualization import overlay_masks, side_by_side

from .runner import load_config

__all__ = ['InpaintInputError', 'inpaint_video', 'init_inpainter', 'read_mask']

#: Frame rate of the output when the source (a frame folder) has none; the official script's default.
DEFAULT_FPS = 24
#: Longer side (px) above which frames are inpainted downscaled; 1080p and larger exceed it.
DEFAULT_MAX_SIDE = 1280
#: References are taken at most this many frames from the window's centre (ours; bounds memory).
DEFAULT_REF_RADIUS = 50

Size = Tuple[int, int]  # (H, W) px


class InpaintInputError(InputError):
    """The frames, masks or options given to :func:`inpaint_video` cannot be used; nothing was written."""


# ----------------------------------------------------------------------------------------------
# Reading frames and masks
# ----------------------------------------------------------------------------------------------
def read_mask(path: Path) -> np.ndarray:
    """(H, W) bool hole mask of a mask image: any non-zero grey value is a hole, as official ``test.py``."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert('L')) > 0
    except OSError as err:
        raise InpaintInputError(f'cannot read mask {path}: {err}') from None


class MaskSequence:
    """Masks by frame index: one PNG per frame (a folder, file-name order) or one PNG for all frames.

    Checks, before anything is inpainted: the mask count equals the frame count,
    every mask has the frame size (when ``check_size``), and some mask has a hole.

    Args:
        source: folder of ``.png`` masks, or one ``.png`` file.
        num_frames: number of frames they must match.
        frame_size: (H, W) of the frames.
        check_size: False when frames and masks are both resized to one size.
    """

    def __init__(self, source: Union[str, Path], num_frames: int, frame_size: Size, check_size: bool):
        path = Path(source)
        if path.is_dir():
            self.files = sorted(p for p in path.iterdir() if p.suffix.lower() == '.png')
            if len(self.files) != num_frames:
                raise InpaintInputError(f'{path} holds {len(self.files)} PNG masks but the video has '
                                        f'{num_frames} frames; give one mask per frame (same order) or one '
                                        'PNG for all frames')
        elif path.is_file():
            self.files = [path]
        else:
            raise InpaintInputError(f'masks {path} not found; give a folder of PNG masks or one PNG')
        self.single = None
        any_hole = False
        for file in self.files:
            mask = read_mask(file)
            if check_size and mask.shape != frame_size:
                raise InpaintInputError(f'mask {file} is {mask.shape[0]}x{mask.shape[1]} (HxW) but the frames are '
                                        f'{frame_size[0]}x{frame_size[1]}; give masks of the frame size or '
                                        'pass resize')
            any_hole = any_hole or bool(mask.any())
            if len(self.files) == 1:
                self.single = mask
        if not any_hole:
            raise InpaintInputError(f'the masks in {path} are all empty: nothing to remove (holes are non-zero '
                                    'pixels)')

    def __getitem__(self, index: int) -> np.ndarray:
        """(H, W) bool mask of frame ``index``."""
        return self.single if self.single is not None else read_mask(self.files[index])


# ----------------------------------------------------------------------------------------------
# Sizes
# ----------------------------------------------------------------------------------------------
class FramePreparer:
    """Resizes frames and masks to the output and processing sizes and dilates masks.

    Args:
        out_size: (H, W) of the output.
        proc_size: (H, W) the inpainter works at.
        mask_dilation: iterations of a 3x3 cross dilation at output size (official ``test.py``: 4).
    """

    def __init__(self, out_size: Size, proc_size: Size, mask_dilation: int):
        self.out_size, self.proc_size = out_size, proc_size
        self.mask_dilation = mask_dilation
        self.kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))

    @property
    def scaled(self) -> bool:
        """Whether the inpainter works at another size than the output."""
        return self.proc_size != self.out_size

    @staticmethod
    def _resize_image(image: np.ndarray, size: Size) -> np.ndarray:
        if image.shape[:2] == size:
            return image
        shrink = size[0] * size[1] < image.shape[0] * image.shape[1]
        return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    def to_output(self, frame: np.ndarray, mask: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Source frame (H, W, 3) uint8 and mask (h, w) bool → output-size frame and dilated hole (bool)."""
        frame = self._resize_image(frame, self.out_size)
        if mask.shape != self.out_size:
            mask = cv2.resize(mask.astype(np.uint8), (self.out_size[1], self.out_size[0]),
                              interpolation=cv2.INTER_NEAREST).astype(bool)
        if self.mask_dilation > 0:
            mask = cv2.dilate(mask.astype(np.uint8), self.kernel, iterations=self.mask_dilation).astype(bool)
        return frame, mask

    def to_processing(self, frame: np.ndarray, hole: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Output-size frame and hole → processing size; a pixel touching the hole becomes hole."""
        if not self.scaled:
            return frame, hole
        return self._resize_image(frame, self.proc_size), self._resize_image(hole.astype(np.float32),
                                                                             self.proc_size) > 0

    def composite(self, frame: np.ndarray, hole: np.ndarray, completed: np.ndarray) -> np.ndarray:
        """Output frame (H, W, 3) uint8 with its ``hole`` taken from ``completed`` (h, w, 3) float in [0, 1]."""
        if self.scaled:
            completed = cv2.resize(completed, (self.out_size[1], self.out_size[0]), interpolation=cv2.INTER_LINEAR)
        out = frame.copy()
        out[hole] = np.clip(np.round(completed[hole] * 255), 0, 255).astype(np.uint8)
        return out


def processing_size(out_size: Size, fixed_size: Optional[Size], max_side: Optional[int]) -> Size:
    """(H, W) the inpainter works at: its ``fixed_size``, ``out_size`` shrunk to ``max_side``, or ``out_size``."""
    if fixed_size is not None:
        return tuple(fixed_size)
    if max_side is None or max(out_size) <= max_side:
        return out_size
    scale = max_side / max(out_size)
    return max(1, round(out_size[0] * scale)), max(1, round(out_size[1] * scale))


class WindowFrames:
    """Processing-size frames and holes by index, decoded on demand in order and freed when no longer needed.

    Args:
        frames: one pass over the source frames.
        masks: masks by index.
        preparer: size conversions.
        num_frames: frames expected.
    """

    def __init__(self, frames: Iterator[np.ndarray], masks: MaskSequence, preparer: FramePreparer, num_frames: int):
        self.frames, self.masks, self.preparer, self.num_frames = frames, masks, preparer, num_frames
        self.store: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        self.next_index = 0

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """(h, w, 3) uint8 RGB frame and (h, w) bool hole of frame ``index`` at processing size."""
        while self.next_index <= index:
            frame = next(self.frames, None)
            if frame is None:
                raise InpaintInputError(f'the video ended after {self.next_index} frames, but its container '
                                        f'announced {self.num_frames}')
            self.store[self.next_index] = self.preparer.to_processing(
                *self.preparer.to_output(frame, self.masks[self.next_index]))
            self.next_index += 1
        return self.store[index]

    def release_below(self, index: int) -> None:
        """Forget every frame before ``index``."""
        for i in [i for i in self.store if i < index]:
            del self.store[i]


def _check_output(out_path: Path, sources: Sequence[Path]) -> None:
    """Refuse outputs that would overwrite an input, a non-empty folder, or look like an image."""
    if out_path.suffix.lower() in IMAGE_SUFFIXES:
        raise InpaintInputError(f'output {out_path} looks like an image; give a video ({", ".join(VIDEO_FORMATS)}) '
                                'or a folder for the frames')
    resolved = out_path.resolve()
    if any(resolved == Path(s).resolve() for s in sources):
        raise InpaintInputError(f'output {out_path} is one of the inputs; choose another path')
    if out_path.suffix.lower() not in VIDEO_FORMATS and out_path.exists():
        if not out_path.is_dir() or any(out_path.iterdir()):
            raise InpaintInputError(f'output folder {out_path} exists and is not empty; remove it or choose another')


# ----------------------------------------------------------------------------------------------
# Inpainters
# ----------------------------------------------------------------------------------------------
def init_inpainter(config: Optional[str] = None, weights: Optional[str] = None, device: str = 'cpu') -> nn.Module:
    """The inpainter :func:`inpaint_video` should run.

    Without ``config`` (and ``weights``): :class:`FlowPropagationInpainter`. With a
    config: its ``inpainter`` entry if present, else its ``model`` when that is an
    inpainter (has ``inpaint_window``), else an :class:`E2FGVIInpainter` around
    ``model.generator`` (a training config). Inpainters with learned weights need
    ``weights``, loaded strictly.

    Returns:
        nn.Module: in eval mode on ``device``.
    """
    if config is None:
        if weights is not None:
            raise InpaintInputError('weights need the config of the model they belong to')
        return FlowPropagationInpainter().to(device).eval()
    if not Path(config).is_file():
        raise InpaintInputError(f'config {config} not found')
    cfg = load_config(config)
    model_cfg = cfg.get('inpainter', cfg.get('model'))
    if model_cfg is None:
        raise InpaintInputError(f'{config} defines neither `inpainter` nor `model`')
    with DefaultScope.overwrite_default_scope('seg'):
        if hasattr(MODELS.get(model_cfg['type']), 'inpaint_window'):
            inpainter = MODELS.build(model_cfg)
        elif 'generator' in model_cfg:
            inpainter = E2FGVIInpainter(generator=model_cfg['generator'])
        else:
            raise InpaintInputError(f'{config}: model type {model_cfg["type"]} is no inpainter (no inpaint_window) '
                                    'and has no generator; give an inpainting config')
    if weights is not None:
        if not Path(weights).is_file():
            raise InpaintInputError(f'weights file {weights} not found')
        if hasattr(inpainter, 'load_checkpoint'):
            inpainter.load_checkpoint(weights)
        else:
            load_checkpoint(inpainter, weights, map_location='cpu', strict=True)
    elif any(True for _ in inpainter.parameters()):
        raise InpaintInputError(f'{type(inpainter).__name__} from {config} has learned weights; pass the weights '
                                'file')
    return inpainter.to(device).eval()


# ----------------------------------------------------------------------------------------------
# The entry point
# ----------------------------------------------------------------------------------------------
def inpaint_video(frames_source: Union[str, Path],
                  masks_source: Union[str, Path],
                  out_path: Union[str, Path],
                  inpainter: Optional[nn.Module] = None,
                  neighbor_stride: int = DEFAULT_NEIGHBOR_STRIDE,
                  num_ref: int = ALL_REFERENCES,
                  ref_stride: int = DEFAULT_REF_STRIDE,
                  ref_radius: int = DEFAULT_REF_RADIUS,
                  resize: Optional[Tuple[int, int]] = None,
                  mask_dilation: int = 4,
                  fp16: bool = False,
                  device: str = 'cpu',
                  preview_path: Optional[Union[str, Path]] = None,
                  max_side: Optional[int] = DEFAULT_MAX_SIDE,
                  fps: Optional[float] = None,
                  progress: bool = True) -> Path:
    """Remove the masked regions from a video, streaming (see the module docstring).

    Args:
        frames_source: a video file (PyAV) or a folder of frame images (file-name order).
        masks_source: a folder with one PNG mask per frame (file-name order), or one PNG
            for every frame; non-zero pixels are holes.
        out_path: ``.mp4`` / ``.mov`` / ``.mkv`` / ``.avi`` file, or a folder (created;
            empty if it exists) for ``00000.png, ...``.
        inpainter: a module with ``inpaint_window``; default :class:`FlowPropagationInpainter`.
        neighbor_stride: s; windows start every s frames and hold 2s + 1 local frames.
        num_ref: -1 (every ``ref_stride``-th frame) or the official ``num_ref`` (see
            :func:`~seg.models.utils.inpainting_windows.reference_ids`).
        ref_stride: frames between references.
        ref_radius: references lie at most this many frames from the window centre.
        resize: (width, height) px of the output; None keeps the source size.
        mask_dilation: iterations of a 3x3 cross dilation of every mask, at output size.
        fp16: run the inpainter under float16 autocast (CUDA only).
        device: torch device of the inpainter.
        preview_path: image file for a side-by-side (input with mask overlay | output)
            of the middle frame.
        max_side: longer side (px) above which frames are inpainted downscaled and the
            holes upscaled back; None never downscales.
        fps: output frame rate; default the source video's, or 24 for frame folders.
        progress: show a tqdm progress bar.

    Returns:
        Path: ``out_path``.

    Raises:
        InpaintInputError: unusable inputs or options, detected before anything is written
            (or a video that ends before its announced frame count; nothing is left then either).
    """
    out_path = Path(out_path)
    if inpainter is None:
        inpainter = FlowPropagationInpainter()
    if neighbor_stride < 1 or ref_stride < 1 or ref_radius < 0 or mask_dilation < 0:
        raise InpaintInputError(f'need neighbor_stride >= 1, ref_stride >= 1, ref_radius >= 0 and '
                                f'mask_dilation >= 0; got {neighbor_stride}, {ref_stride}, {ref_radius}, '
                                f'{mask_dilation}')
    if num_ref != -1 and num_ref < 1:
        raise InpaintInputError(f'num_ref must be -1 (every ref_stride-th frame) or >= 1, got {num_ref}')
    torch_device = torch.device(device)
    if fp16 and torch_device.type != 'cuda':
        raise InpaintInputError(f'fp16 needs a CUDA device, got device {device!r}; drop fp16 to run in float32')
    if torch_device.type == 'cuda' and not torch.cuda.is_available():
        raise InpaintInputError(f'device {device!r} asked for, but CUDA is not available here')
    if resize is not None and (len(resize) != 2 or min(resize) < 1):
        raise InpaintInputError(f'resize must be (width, height) with positive sides, got {resize}')
    if preview_path is not None and Path(preview_path).suffix.lower() not in IMAGE_SUFFIXES:
        raise InpaintInputError(f'preview {preview_path} needs an image suffix ({", ".join(IMAGE_SUFFIXES)})')
    _check_output(out_path, [Path(frames_source), Path(masks_source)])

    frames = open_frames(frames_source)
    masks = MaskSequence(masks_source, frames.num_frames, frames.size, check_size=resize is None)
    out_size = frames.size if resize is None else (int(resize[1]), int(resize[0]))
    proc_size = processing_size(out_size, getattr(inpainter, 'fixed_size', None), max_side)
    preparer = FramePreparer(out_size, proc_size, mask_dilation)
    if preparer.scaled:
        print_log(f'inpainting at {proc_size[1]}x{proc_size[0]} and resizing the completed holes to the output\'s '
                  f'{out_size[1]}x{out_size[0]}', logger='current')
    rate = Fraction(fps).limit_denominator(1001) if fps is not None else (frames.fps or Fraction(DEFAULT_FPS))

    inpainter = inpainter.to(torch_device).eval()
    encoded_preview = None
    with atomic_path(out_path) as temp:
        if out_path.suffix.lower() in VIDEO_FORMATS:
            writer = VideoWriter(temp, VIDEO_FORMATS[out_path.suffix.lower()], out_size, rate)
        else:
            temp.mkdir()
            writer = FolderWriter(temp)
        try:
            preview = _run(frames, masks, preparer, inpainter, writer, torch_device, fp16, neighbor_stride, num_ref,
                           ref_stride, ref_radius, preview_path is not None, progress)
            writer.close()
        finally:
            writer.abort()
        if preview_path is not None:
            ok, encoded_preview = cv2.imencode(Path(preview_path).suffix, cv2.cvtColor(preview, cv2.COLOR_RGB2BGR))
            if not ok:
                raise OSError(f'could not encode the preview as {Path(preview_path).suffix}')
    if encoded_preview is not None:
        atomic_write_bytes(encoded_preview.tobytes(), preview_path)
    return out_path


def _run(frames, masks: MaskSequence, preparer: FramePreparer, inpainter: nn.Module, writer, device: torch.device,
         fp16: bool, neighbor_stride: int, num_ref: int, ref_stride: int, ref_radius: int, want_preview: bool,
         progress: bool) -> Optional[np.ndarray]:
    """Slide the windows, blend their predictions, write each frame once final; return the preview (RGB) or None."""
    num_frames = frames.num_frames
    store = WindowFrames(iter(frames), masks, preparer, num_frames)
    originals = iter(frames)
    reach = reference_reach(neighbor_stride, num_ref, ref_stride, ref_radius)
    blender = WindowBlender(num_frames, neighbor_stride)
    preview = None
    with tqdm(total=num_frames, unit='frame', desc='inpaint', disable=not progress) as bar:
        for window in sliding_windows(num_frames, neighbor_stride, ref_stride, num_ref, ref_radius):
            images, holes = zip(*(store[i] for i in window.ids))
            batch = torch.from_numpy(np.stack(images)).to(device).permute(0, 3, 1, 2).float() / 255
            hole_batch = torch.from_numpy(np.stack(holes)).to(device)[:, None].float()
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=fp16):
                pred = inpainter.inpaint_window(batch, hole_batch, len(window.local))
            blender.add(window, pred.float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy())
            for index, completed in blender.pop_final():
                original = next(originals, None)
                if original is None:
                    raise InpaintInputError(f'the video ended after {index} frames, but its container announced '
                                            f'{num_frames}')
                frame, hole = preparer.to_output(original, masks[index])
                result = preparer.composite(frame, hole, completed)
                writer.write(result)
                if want_preview and index == num_frames // 2:
                    overlay = overlay_masks(frame, hole[None])
                    preview = side_by_side(overlay, result)
                bar.update(1)
            store.release_below(window.center + neighbor_stride - reach)
    return preview
