"""Track objects through a video of any length from their first masks (XMem), one frame in memory at a time.

::

    from seg.apis import track
    for t, ids in enumerate(track('video.mp4', 'masks/00000.png', checkpoint='checkpoints/XMem.pth')):
        ...  # (H, W) uint8 object ids, the values of the given masks (0 = background)

Masks: one palette PNG (frame 0), a folder of palette PNGs whose names are
frame indices (``00000.png``, ``00042.png``: objects may first appear on a later
frame, as in YouTube-VOS), an (H, W) id array, or a dict ``{frame index: ids}``.
Frames: a video file (decoded lazily with PyAV), a folder of frames, or any
iterable of (H, W, 3) uint8 RGB arrays.
"""
from pathlib import Path
from typing import Dict, Iterable, Iterator, Mapping, Optional, Union

import numpy as np
import torch
from torch import Tensor

from seg.fileio.palette import PaletteMaskError, read_palette_png
from seg.datasets.vos_clip_dataset import normalise_frames
from seg.models.xmem import XMem, load_xmem_checkpoint
from seg.models.xmem.inference import ObjectManager, TrackingInputError, XMemInferenceCore
from seg.fileio.frames import FrameSourceError, open_frames

FramesLike = Union[str, Path, Iterable[np.ndarray]]
MasksLike = Union[str, Path, np.ndarray, Mapping[int, np.ndarray]]


def init_tracker(checkpoint: Union[str, Path], device: Union[str, torch.device] = 'cpu') -> XMem:
    """XMem with the weights of a local released (``XMem.pth``) or training checkpoint, in eval mode."""
    return XMem.from_state_dict(load_xmem_checkpoint(checkpoint)).to(device).eval()


def read_first_masks(masks: MasksLike) -> Dict[int, np.ndarray]:
    """The given masks by frame index (see the module docstring)."""
    if isinstance(masks, np.ndarray):
        return {0: masks}
    if isinstance(masks, Mapping):
        return {int(t): np.asarray(m) for t, m in masks.items()}
    path = Path(masks)
    try:
        if path.is_dir():
            files = sorted(path.glob('*.png'))
            if not files:
                raise TrackingInputError(f'{path} holds no PNG masks')
            out = {}
            for file in files:
                if not file.stem.isdigit():
                    raise TrackingInputError(f'mask {file.name} is not named by its frame index (00000.png, ...)')
                out[int(file.stem)] = read_palette_png(file)[0]
            return out
        return {0: read_palette_png(path)[0]}
    except PaletteMaskError as err:
        raise TrackingInputError(str(err)) from None


def _frames(video: FramesLike) -> Iterator[np.ndarray]:
    if isinstance(video, (str, Path)):
        try:
            yield from open_frames(video)
        except FrameSourceError as err:
            raise TrackingInputError(str(err)) from None
    else:
        yield from video


def _to_tensor(frame: np.ndarray, device: torch.device) -> Tensor:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise TrackingInputError(f'frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}')
    return normalise_frames(frame).to(device)


def track(video: FramesLike, masks: MasksLike, network: Optional[XMem] = None,
          checkpoint: Optional[Union[str, Path]] = None, device: Union[str, torch.device] = 'cpu',
          inference_config: Optional[dict] = None) -> Iterator[np.ndarray]:
    """Yield the (H, W) uint8 object ids of every frame, lazily.

    Args:
        video: frames (see the module docstring).
        masks: the given masks; frame 0 must have one.
        network: a built :class:`XMem`; or ``checkpoint``, a local XMem file.
        device: where the network runs.
        inference_config: overrides of the official memory settings
            (:data:`~seg.models.xmem.inference.DEFAULT_INFERENCE_CONFIG`, e.g. ``max_internal_size``).

    Raises:
        TrackingInputError: no first-frame mask, a mask whose size differs from the frames, a mask
            for a frame the video does not have, an unreadable frame or mask.
    """
    if network is None:
        if checkpoint is None:
            raise TrackingInputError('give network= or checkpoint= (the released XMem.pth from '
                                     'github.com/hkchengrex/XMem, saved under checkpoints/); nothing is downloaded')
        network = init_tracker(checkpoint, device)
    given = read_first_masks(masks)
    if 0 not in given:
        raise TrackingInputError(f'no mask for the first frame (masks given for frames {sorted(given)[:5]}); the '
                                 f'objects to track must be given on frame 0')
    device = next(network.parameters()).device
    core = XMemInferenceCore(network.eval(), inference_config)
    objects = ObjectManager()
    last = max(given)
    count = 0
    with torch.no_grad():
        for t, frame in enumerate(_frames(video)):
            count = t + 1
            image = _to_tensor(frame, device)
            if t in given:
                ids = given[t]
                if ids.shape != frame.shape[:2]:
                    raise TrackingInputError(f'mask of frame {t} is {ids.shape[0]}x{ids.shape[1]} but the frames are '
                                             f'{frame.shape[0]}x{frame.shape[1]}; give masks at the frame size')
                mask, valid = objects.add_mask(ids)
                core.set_all_labels(objects.labels)
                prob = core.step(image, mask.to(device), valid)
            else:
                prob = core.step(image)
            yield objects.to_ids(prob)
    if count <= last:
        raise TrackingInputError(f'a mask was given for frame {last} but the video has {count} frames')
