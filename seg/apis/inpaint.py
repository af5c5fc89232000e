"""Remove masked objects from a video of any length, streaming: frames in, completed frames out.

:func:`inpaint_video` runs any inpainter with the window method
``inpaint_window(frames (T, 3, H, W) in [0, 1], masks (T, 1, H, W) 0/1, num_local_frames)
-> (num_local_frames, 3, H, W) in [0, 1]`` (``FlowPropagationInpainter``,
``E2FGVIInpainter``, ``ProPainterInpainter``) over the video the way E2FGVI's official ``test.py`` does:

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
error, or a SIGTERM, never leaves a half-written result; siblings left by a
killed run are removed when the next run starts.
Every input is checked before anything is written (:class:`InpaintInputError`),
the output folder's writability included; a write failing later (a full disk)
is an :class:`InpaintInputError` too, and leaves nothing behind.
"""
import logging
import math
from fractions import Fraction
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from PIL import Image
from tqdm import tqdm

from seg.fileio.atomic import (WRITE_HINTS, atomic_path, atomic_write_bytes, check_writable, remove_stale_parts,
                               sigterm_exits)
from seg.fileio.errors import InputError
from seg.fileio.frames import IMAGE_SUFFIXES, VIDEO_FORMATS, FolderWriter, VideoWriter, open_frames, sort_frame_names
from seg.fileio.masks import read_binary_mask
from seg.models.e2fgvi.e2fgvi_inpainter import E2FGVIInpainter
from seg.models.inpainters.flow_propagation_inpainter import FlowPropagationInpainter
from seg.models.propainter.propainter_inpainter import DEFAULT_WEIGHTS_DIR, ProPainterInpainter
from seg.models.utils.inpainting_windows import (ALL_REFERENCES, DEFAULT_NEIGHBOR_STRIDE, DEFAULT_REF_STRIDE,
                                                 WindowBlender, reference_reach, sliding_windows)
from seg.registry import MODELS
from seg.visualization import overlay_masks, side_by_side

from .runner import load_config

__all__ = ['InpaintInputError', 'inpaint_video', 'init_inpainter']

#: Frame rate of the output when the source (a frame folder) has none; the official script's default.
DEFAULT_FPS = 24
#: Longer side (px) above which frames are inpainted downscaled; 1080p and larger exceed it.
DEFAULT_MAX_SIDE = 1280
#: References are taken at most this many frames from the window's centre (ours; bounds memory).
DEFAULT_REF_RADIUS = 50
#: Models :func:`init_inpainter` builds by name (with their release weights), not from a config.
NAMED_MODELS = ('propainter', )
#: Largest fraction of a frame a hole may cover (after dilation); more leaves nothing to fill it from.
MAX_HOLE_FRACTION = 0.95

Size = Tuple[int, int]  # (H, W) px
MaskSource = Union[str, Path, np.ndarray]


class InpaintInputError(InputError):
    """The frames, masks or options given to :func:`inpaint_video` cannot be used; nothing was written."""


# ----------------------------------------------------------------------------------------------
# Reading frames and masks
# ----------------------------------------------------------------------------------------------
class MaskSequence:
    """Masks by frame index: PNG files (a folder, one per frame, or one for all frames) or an array.

    Files are read by the rule of :mod:`seg.fileio.masks` (palette index != 0,
    one channel > 0, colour: any channel > 0, alpha when it varies). Checks, before
    anything is inpainted: the mask count equals the frame count, every mask has
    the frame size (when ``check_size``), some mask has a hole, and no hole covers
    more than ``MAX_HOLE_FRACTION`` of its frame once ``to_hole`` made it the hole
    the run fills.

    Args:
        source: folder of ``.png`` masks (playing order, as frame folders), one ``.png``
            file, or an array, non-zero = hole: (H, W) for every frame or (T, H, W).
        num_frames: number of frames they must match.
        frame_size: (H, W) of the frames.
        check_size: False when frames and masks are both resized to one size.
        to_hole: (h, w) bool mask → the (H', W') bool hole the run fills (resized, dilated).
        dilation: iterations ``to_hole`` dilates by (for messages).
    """

    def __init__(self, source: MaskSource, num_frames: int, frame_size: Size, check_size: bool,
                 to_hole: Callable[[np.ndarray], np.ndarray], dilation: int):
        self.files: List[Path] = []
        self.array: Optional[np.ndarray] = None
        if isinstance(source, np.ndarray):
            self.array = self._check_array(source, num_frames, frame_size)
            where = 'the masks of the mask array'
        else:
            path = Path(source)
            if path.is_dir():
                self.files = [path / name for name in sort_frame_names([p.name for p in path.iterdir()
                                                                        if p.suffix.lower() == '.png'])]
                if len(self.files) != num_frames:
                    raise InpaintInputError(f'{path} holds {len(self.files)} PNG masks but the video has '
                                            f'{num_frames} frames; give one mask per frame (same order) or one '
                                            'PNG for all frames')
            elif path.is_file():
                self.files = [path]
            else:
                raise InpaintInputError(f'masks {path} not found; give a folder of PNG masks or one PNG')
            where = f'the masks in {path}'
        self.single = None
        any_hole = False
        count = len(self.array) if self.array is not None else len(self.files)
        for index in range(count):
            mask = self.array[index] if self.array is not None else read_mask_file(self.files[index])
            name = self._name(index)
            if check_size and mask.shape != frame_size:
                raise InpaintInputError(f'{name} is {mask.shape[0]}x{mask.shape[1]} (HxW) but the frames are '
                                        f'{frame_size[0]}x{frame_size[1]}; give masks of the frame size or '
                                        'pass resize')
            _check_coverage(to_hole(mask), name, dilation, self.files[index] if self.files else None)
            any_hole = any_hole or bool(mask.any())
            if count == 1:
                self.single = mask
        if not any_hole:
            raise InpaintInputError(f'{where} are all empty: nothing to remove (holes are non-zero pixels)')

    @staticmethod
    def _check_array(masks: np.ndarray, num_frames: int, frame_size: Size) -> np.ndarray:
        """(N, H, W) bool masks of an array given as (H, W) or (T, H, W); N is 1 or ``num_frames``."""
        shape = masks.shape
        colour = masks.ndim == 4 or (masks.ndim == 3 and shape[-1] in (3, 4) and
                                     (shape[:2] == tuple(frame_size) or shape[0] != num_frames))
        if colour:
            raise InpaintInputError(f'the mask array is {shape}: it has a colour axis of {shape[-1]} channels, but '
                                    'masks are (H, W) for every frame or (T, H, W) one per frame; reduce it to one '
                                    'channel first, e.g. mask.any(axis=-1)')
        if masks.ndim not in (2, 3):
            raise InpaintInputError(f'the mask array is {shape}; give (H, W) for every frame or (T, H, W) one per '
                                    'frame')
        if masks.ndim == 3 and shape[0] != num_frames:
            raise InpaintInputError(f'the mask array holds {shape[0]} masks but the video has {num_frames} frames; '
                                    'give one mask per frame, or one (H, W) mask for all frames')
        if not (masks.dtype == bool or np.issubdtype(masks.dtype, np.number)):
            raise InpaintInputError(f'the mask array has dtype {masks.dtype}; give bool or numbers (non-zero = hole)')
        return (masks != 0).reshape((-1, ) + shape[-2:])

    def _name(self, index: int) -> str:
        """Mask ``index`` named for messages."""
        return f'mask {self.files[index]}' if self.files else f'mask {index} of the mask array'

    def __getitem__(self, index: int) -> np.ndarray:
        """(H, W) bool mask of frame ``index``."""
        if self.single is not None:
            return self.single
        return self.array[index] if self.array is not None else read_mask_file(self.files[index])


def read_mask_file(path: Path) -> np.ndarray:
    """(H, W) bool hole mask of a mask image (:func:`~seg.fileio.masks.read_binary_mask`)."""
    try:
        return read_binary_mask(path)
    except InputError as err:
        raise InpaintInputError(str(err)) from None


def _check_coverage(hole: np.ndarray, name: str, dilation: int, file: Optional[Path]) -> None:
    """Refuse a hole (H, W) bool covering more than ``MAX_HOLE_FRACTION`` of its frame, naming the likely cause."""
    fraction = float(hole.mean())
    if fraction <= MAX_HOLE_FRACTION:
        return
    grown = f'after {dilation} dilation iterations' if dilation else 'without dilation'
    cause = 'check that the mask is not inverted (holes are the non-zero pixels)'
    if file is not None:
        with Image.open(file) as image:
            if image.mode in ('RGB', 'RGBA'):
                cause = (f'it is a colour ({image.mode}) image, where any non-zero channel is a hole: give a '
                         'one-channel mask (0 = keep, non-zero = remove), and check that it is not inverted')
    if dilation:
        cause += ', or use a smaller mask dilation (--mask-dilation)'
    raise InpaintInputError(f'{name} covers {fraction:.1%} of its frame {grown} (at most {MAX_HOLE_FRACTION:.0%} may '
                            f'be removed: nothing would be left to fill it from); {cause}')


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

    def output_hole(self, mask: np.ndarray) -> np.ndarray:
        """Source mask (h, w) bool → the hole at output size (H, W) bool, dilated."""
        if mask.shape != self.out_size:
            mask = cv2.resize(mask.astype(np.uint8), (self.out_size[1], self.out_size[0]),
                              interpolation=cv2.INTER_NEAREST).astype(bool)
        if self.mask_dilation > 0:
            mask = cv2.dilate(mask.astype(np.uint8), self.kernel, iterations=self.mask_dilation).astype(bool)
        return mask

    def to_output(self, frame: np.ndarray, mask: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Source frame (H, W, 3) uint8 and mask (h, w) bool → output-size frame and dilated hole (bool)."""
        return self._resize_image(frame, self.out_size), self.output_hole(mask)

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
    _check_writable(out_path)


def _write_failure(path: Path, err: OSError) -> InpaintInputError:
    """The error for an output that cannot be written (read-only, no permission, full disk)."""
    hint = WRITE_HINTS.get(err.errno, 'choose a folder you can write to')
    return InpaintInputError(f'cannot write {path}: {err.strerror or err}; {hint} (nothing was written)')


def _check_writable(path: Path) -> None:
    """Refuse an output whose folder cannot be written, before any work."""
    try:
        check_writable(path)
    except OSError as err:
        raise _write_failure(path, err) from None


class _OutputWriter:
    """A frame writer whose ``OSError`` (a full disk, a folder made read-only) becomes an :class:`InpaintInputError`.

    Args:
        writer: a :class:`~seg.fileio.frames.VideoWriter` or :class:`~seg.fileio.frames.FolderWriter`.
        out_path: the output, named in the message.
    """

    def __init__(self, writer, out_path: Path):
        self.writer, self.out_path = writer, out_path

    def write(self, frame: np.ndarray) -> None:
        """Write one (H, W, 3) uint8 RGB frame."""
        try:
            self.writer.write(frame)
        except OSError as err:
            raise _write_failure(self.out_path, err) from None

    def close(self) -> None:
        """Finish the output."""
        try:
            self.writer.close()
        except OSError as err:
            raise _write_failure(self.out_path, err) from None

    def abort(self) -> None:
        """Release the output after a failure; its own errors are dropped (the output is discarded)."""
        try:
            self.writer.abort()
        except OSError:
            pass


# ----------------------------------------------------------------------------------------------
# Inpainters
# ----------------------------------------------------------------------------------------------
def init_inpainter(config: Optional[str] = None, weights: Optional[str] = None, device: str = 'cpu',
                   model: Optional[str] = None, weights_dir: Optional[Union[str, Path]] = None,
                   random_weights: bool = False) -> nn.Module:
    """The inpainter :func:`inpaint_video` should run.

    Without ``config``, ``weights`` and ``model``: :class:`FlowPropagationInpainter`.
    With ``model='propainter'``: :class:`ProPainterInpainter` with the three release
    files of ``weights_dir`` (default ``checkpoints/propainter/``), or, with
    ``random_weights``, its random initialisation (smoke tests and benchmarks only:
    the output is meaningless, and a warning says so). With a config: its
    ``inpainter`` entry if present, else its ``model`` when that is an inpainter
    (has ``inpaint_window``), else an :class:`E2FGVIInpainter` around
    ``model.generator`` (a training config). Inpainters with learned weights need
    ``weights``, loaded strictly.

    Returns:
        nn.Module: in eval mode on ``device``.
    """
    if model is not None:
        return _named_inpainter(model, config, weights, weights_dir, random_weights).to(device).eval()
    if weights_dir is not None or random_weights:
        raise InpaintInputError('weights_dir and random_weights belong to a named model (model=\'propainter\')')
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


def _named_inpainter(model: str, config: Optional[str], weights: Optional[str],
                     weights_dir: Optional[Union[str, Path]], random_weights: bool) -> nn.Module:
    """The inpainter of a model named by ``model`` (not a config), with its release weights or random ones."""
    if model not in NAMED_MODELS:
        raise InpaintInputError(f'unknown model {model!r}; choose one of {", ".join(NAMED_MODELS)}')
    if config is not None or weights is not None:
        raise InpaintInputError(f'model {model!r} brings its own networks and weights folder; drop the config and '
                                'weights file (or drop the model name)')
    if random_weights and weights_dir is not None:
        raise InpaintInputError('random_weights and weights_dir exclude each other; give one')
    inpainter = ProPainterInpainter()
    if random_weights:
        print_log(f'{model}: RANDOM WEIGHTS, NOT THE RELEASE: the output is meaningless (for smoke tests and '
                  'benchmarks only)', logger='current', level=logging.WARNING)
    else:
        inpainter.load_weights(DEFAULT_WEIGHTS_DIR if weights_dir is None else weights_dir)
    return inpainter


# ----------------------------------------------------------------------------------------------
# The entry point
# ----------------------------------------------------------------------------------------------
def inpaint_video(frames_source: Union[str, Path],
                  masks_source: MaskSource,
                  out_path: Union[str, Path],
                  inpainter: Optional[nn.Module] = None,
                  neighbor_stride: int = DEFAULT_NEIGHBOR_STRIDE,
                  num_ref: int = ALL_REFERENCES,
                  ref_stride: int = DEFAULT_REF_STRIDE,
                  ref_radius: int = DEFAULT_REF_RADIUS,
                  resize: Optional[Tuple[int, int]] = None,
                  mask_dilation: int = 4,
                  fp16: bool = False,
                  bf16: bool = False,
                  device: str = 'cpu',
                  preview_path: Optional[Union[str, Path]] = None,
                  max_side: Optional[int] = DEFAULT_MAX_SIDE,
                  fps: Optional[float] = None,
                  progress: bool = True) -> Path:
    """Remove the masked regions from a video, streaming (see the module docstring).

    Args:
        frames_source: a video file (PyAV) or a folder of frame images (file-name order).
        masks_source: a folder with one PNG mask per frame (playing order, as frame
            folders), or one PNG for every frame, read by :mod:`seg.fileio.masks`'s rule
            (non-zero pixels are holes); or an array, non-zero = hole, (H, W) for every
            frame or (T, H, W). No hole may cover more than ``MAX_HOLE_FRACTION`` of its
            frame after the dilation.
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
        bf16: run the inpainter under bfloat16 autocast (CPU, or a CUDA GPU supporting it).
        device: torch device of the inpainter.
        preview_path: image file for a side-by-side (input with mask overlay | output)
            of the middle frame.
        max_side: longer side (px) above which frames are inpainted downscaled and the
            holes upscaled back; None never downscales.
        fps: output frame rate (frames/s); default the source video's, or 24 for frame folders.
        progress: show a tqdm progress bar.

    Returns:
        Path: ``out_path``.

    Raises:
        InpaintInputError: unusable inputs or options, or an output folder that cannot be
            written, detected before anything is written (or a video that ends before its
            announced frame count, or a write failing mid-run; nothing is left then either).
        SystemExit: code 143 on SIGTERM (in the main thread); nothing is left either.
    """
    out_path = Path(out_path)
    if inpainter is None:
        inpainter = FlowPropagationInpainter()
    _check_options(neighbor_stride, num_ref, ref_stride, ref_radius, resize, mask_dilation, max_side, fps)
    torch_device = torch.device(device)
    if fp16 and bf16:
        raise InpaintInputError('fp16 and bf16 exclude each other; choose one (or neither for float32)')
    if fp16 and torch_device.type != 'cuda':
        raise InpaintInputError(f'fp16 needs a CUDA device, got device {device!r}; drop fp16 to run in float32')
    if torch_device.type == 'cuda' and not torch.cuda.is_available():
        raise InpaintInputError(f'device {device!r} asked for, but CUDA is not available here')
    autocast_dtype = _autocast_dtype(fp16, bf16, torch_device)
    if preview_path is not None and Path(preview_path).suffix.lower() not in IMAGE_SUFFIXES:
        raise InpaintInputError(f'preview {preview_path} needs an image suffix ({", ".join(IMAGE_SUFFIXES)})')
    inputs = [Path(frames_source)] + ([] if isinstance(masks_source, np.ndarray) else [Path(masks_source)])
    _check_output(out_path, inputs)
    if preview_path is not None:
        _check_writable(Path(preview_path))

    frames = open_frames(frames_source)
    out_size = frames.size if resize is None else (int(resize[1]), int(resize[0]))
    proc_size = processing_size(out_size, getattr(inpainter, 'fixed_size', None), max_side)
    preparer = FramePreparer(out_size, proc_size, mask_dilation)
    masks = MaskSequence(masks_source, frames.num_frames, frames.size, resize is None, preparer.output_hole,
                         mask_dilation)
    if preparer.scaled:
        print_log(f'inpainting at {proc_size[1]}x{proc_size[0]} and resizing the completed holes to the output\'s '
                  f'{out_size[1]}x{out_size[0]}', logger='current')
    rate = Fraction(fps).limit_denominator(1001) if fps is not None else (frames.fps or Fraction(DEFAULT_FPS))

    inpainter = inpainter.to(torch_device).eval()
    for target in [out_path] + ([Path(preview_path)] if preview_path is not None else []):
        remove_stale_parts(target)
    with sigterm_exits(), atomic_path(out_path) as temp:
        try:
            if out_path.suffix.lower() in VIDEO_FORMATS:
                writer = VideoWriter(temp, VIDEO_FORMATS[out_path.suffix.lower()], out_size, rate)
            else:
                temp.mkdir()
                writer = FolderWriter(temp)
        except OSError as err:
            raise _write_failure(out_path, err) from None
        writer = _OutputWriter(writer, out_path)
        try:
            preview = _run(frames, masks, preparer, inpainter, writer, torch_device, autocast_dtype, neighbor_stride,
                           num_ref, ref_stride, ref_radius, preview_path is not None, progress)
            writer.close()
        finally:
            writer.abort()
        if preview_path is not None:
            ok, encoded_preview = cv2.imencode(Path(preview_path).suffix, cv2.cvtColor(preview, cv2.COLOR_RGB2BGR))
            if not ok:
                raise OSError(f'could not encode the preview as {Path(preview_path).suffix}')
            try:
                atomic_write_bytes(encoded_preview.tobytes(), preview_path)
            except OSError as err:
                raise _write_failure(Path(preview_path), err) from None
    return out_path


def _check_options(neighbor_stride: int, num_ref: int, ref_stride: int, ref_radius: int,
                   resize: Optional[Tuple[int, int]], mask_dilation: int, max_side: Optional[int],
                   fps: Optional[float]) -> None:
    """Refuse option values :func:`inpaint_video` cannot use, one message each."""
    if neighbor_stride < 1:
        raise InpaintInputError(f'neighbor_stride must be >= 1 (frames between windows), got {neighbor_stride}')
    if ref_stride < 1:
        raise InpaintInputError(f'ref_stride must be >= 1 (frames between references), got {ref_stride}')
    if ref_radius < 0:
        raise InpaintInputError(f'ref_radius must be >= 0 (frames from the window centre), got {ref_radius}')
    if mask_dilation < 0:
        raise InpaintInputError(f'mask_dilation must be >= 0 (iterations; 0 keeps the masks), got {mask_dilation}')
    if num_ref != -1 and num_ref < 1:
        raise InpaintInputError(f'num_ref must be -1 (every ref_stride-th frame) or >= 1, got {num_ref}')
    if resize is not None and (len(resize) != 2 or any(int(side) != side or side < 1 for side in resize)):
        raise InpaintInputError(f'resize must be (width, height) with positive whole sides in px, got {resize}')
    if max_side is not None and max_side < 1:
        raise InpaintInputError(f'max_side must be a positive number of px (the longer side frames are inpainted '
                                f'at), or None to never downscale; got {max_side}')
    if fps is not None and not (math.isfinite(fps) and Fraction(fps).limit_denominator(1001) > 0):
        raise InpaintInputError(f'fps must be a positive number of frames per second, or None to keep the '
                                f'source\'s; got {fps}')


def _autocast_dtype(fp16: bool, bf16: bool, device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype of the inpainter (None: float32), refusing what ``device`` cannot run."""
    if not bf16:
        return torch.float16 if fp16 else None
    usable = torch.cuda.is_bf16_supported() if device.type == 'cuda' else device.type == 'cpu'
    if not usable:
        raise InpaintInputError(f'bf16 is not supported on device {str(device)!r} here; drop bf16 to run in float32')
    return torch.bfloat16


def _run(frames, masks: MaskSequence, preparer: FramePreparer, inpainter: nn.Module, writer, device: torch.device,
         autocast_dtype: Optional[torch.dtype], neighbor_stride: int, num_ref: int, ref_stride: int, ref_radius: int,
         want_preview: bool,
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
            with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype,
                                                 enabled=autocast_dtype is not None):
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
