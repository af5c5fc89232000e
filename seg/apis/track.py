"""Track objects through a video of any length from their first masks (XMem), one frame in memory at a time.

::

    from seg.apis import track, track_to_folder
    for t, ids in enumerate(track('video.mp4', 'masks/00000.png', checkpoint='checkpoints/XMem.pth')):
        ...  # (H, W) uint8 object ids, the values of the given masks (0 = background)
    track_to_folder('video.mp4', 'masks/', 'out/', checkpoint='checkpoints/XMem.pth', overlay='out.mp4')

Masks: one palette PNG (frame 0), a folder of palette PNGs whose names are
frame indices (``00000.png``, ``00042.png``: objects may first appear on a later
frame, as in YouTube-VOS), an (H, W) id array, or a dict ``{frame index: ids}``.
Frames: a video file (decoded lazily with PyAV), a folder of frames, or any
iterable of (H, W, 3) uint8 RGB arrays. Both functions drive one
:class:`~seg.models.xmem.inference.XMemSession`, as ``XMemVOS.predict`` does.
"""
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterable, Iterator, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from seg.datasets.vos_clip_dataset import normalise_frames
from seg.fileio.atomic import atomic_path
from seg.fileio.frames import VIDEO_FORMATS, FrameSourceError, VideoWriter, open_frames
from seg.fileio.palette import PaletteMaskError, davis_palette, read_palette_png, write_palette_png
from seg.models.xmem import XMem, XMemCheckpointError, load_xmem_checkpoint
from seg.models.xmem.inference import TrackingInputError, XMemSession
from seg.visualization.overlay import overlay_masks

FramesLike = Union[str, Path, Iterable[np.ndarray]]
MasksLike = Union[str, Path, np.ndarray, Mapping[int, np.ndarray]]

#: Overlay opacity of object colours.
OVERLAY_ALPHA = 0.5
#: Frame rate of the overlay video when the frames have none (frame folders, arrays).
DEFAULT_FPS = Fraction(24)


def init_tracker(checkpoint: Union[str, Path], device: Union[str, torch.device] = 'cpu') -> XMem:
    """XMem with the weights of a local released (``XMem.pth``) or training checkpoint, in eval mode.

    Raises:
        TrackingInputError: the file is missing or holds no XMem weights.
    """
    try:
        state_dict = load_xmem_checkpoint(checkpoint)
        return XMem.from_state_dict(state_dict).to(device).eval()
    except (FileNotFoundError, XMemCheckpointError) as err:
        raise TrackingInputError(str(err)) from None


def read_given_masks(masks: MasksLike) -> Tuple[Dict[int, np.ndarray], Optional[np.ndarray]]:
    """The given masks by frame index (see the module docstring) and their palette.

    Returns:
        {frame index: (H, W) uint8 ids}, and the (256, 3) uint8 RGB palette of the PNG of the lowest
        frame index, or None for arrays and grey PNGs.
    """
    if isinstance(masks, np.ndarray):
        return {0: masks}, None
    if isinstance(masks, Mapping):
        return {int(t): np.asarray(m) for t, m in masks.items()}, None
    path = Path(masks)
    try:
        if not path.is_dir():
            ids, palette = read_palette_png(path)
            return {0: ids}, palette
        files = sorted(path.glob('*.png'))
        if not files:
            raise TrackingInputError(f'{path} holds no PNG masks')
        read = {}
        for file in files:
            if not file.stem.isdigit():
                raise TrackingInputError(f'mask {file.name} is not named by its frame index (00000.png, ...)')
            read[int(file.stem)] = read_palette_png(file)
    except PaletteMaskError as err:
        raise TrackingInputError(str(err)) from None
    return {t: ids for t, (ids, _) in read.items()}, read[min(read)][1]


def _network(network: Optional[XMem], checkpoint: Optional[Union[str, Path]],
             device: Union[str, torch.device]) -> XMem:
    """``network`` as given, else the one of ``checkpoint`` on ``device``."""
    if network is not None:
        return network
    if checkpoint is None:
        raise TrackingInputError('give network= or checkpoint= (the released XMem.pth from '
                                 'github.com/hkchengrex/XMem, saved under checkpoints/); nothing is downloaded')
    return init_tracker(checkpoint, device)


def _open_video(video: FramesLike) -> Iterable[np.ndarray]:
    """A lazy frame source for a path (see :func:`~seg.fileio.frames.open_frames`); other iterables as given."""
    if not isinstance(video, (str, Path)):
        return video
    try:
        return open_frames(video)
    except FrameSourceError as err:
        raise TrackingInputError(str(err)) from None


def _to_tensor(frame: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 RGB → (3, H, W) ImageNet-normalised float32."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise TrackingInputError(f'frames must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}')
    return normalise_frames(frame)


def _track_frames(frames: Iterable[np.ndarray], given: Dict[int, np.ndarray], network: XMem,
                  inference_config: Optional[dict]) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Yield (frame (H, W, 3) uint8 RGB, its ids (H, W) uint8) for every frame, lazily (see :func:`track`)."""
    if 0 not in given:
        raise TrackingInputError(f'no mask for the first frame (masks given for frames {sorted(given)[:5]}); the '
                                 f'objects to track must be given on frame 0')
    session = XMemSession(network, inference_config)
    try:
        for t, frame in enumerate(frames):
            yield frame, session.step(_to_tensor(frame), given.get(t))
    except FrameSourceError as err:
        raise TrackingInputError(str(err)) from None
    if session.num_frames <= max(given):
        raise TrackingInputError(f'a mask was given for frame {max(given)} but the video has '
                                 f'{session.num_frames} frames')


def track(video: FramesLike, masks: MasksLike, network: Optional[XMem] = None,
          checkpoint: Optional[Union[str, Path]] = None, device: Union[str, torch.device] = 'cpu',
          inference_config: Optional[dict] = None) -> Iterator[np.ndarray]:
    """Yield the (H, W) uint8 object ids of every frame, lazily.

    Args:
        video: frames (see the module docstring).
        masks: the given masks; frame 0 must have one.
        network: a built :class:`XMem`; or ``checkpoint``, a local XMem file.
        device: where the network of ``checkpoint`` runs (a given ``network`` stays where it is).
        inference_config: overrides of the official memory settings
            (:data:`~seg.models.xmem.inference.DEFAULT_INFERENCE_CONFIG`, e.g. ``max_internal_size``).

    Raises:
        TrackingInputError: no first-frame mask, a mask whose size differs from the frames, a mask
            for a frame the video does not have, an unreadable frame, mask or checkpoint.
    """
    network = _network(network, checkpoint, device)
    given, _ = read_given_masks(masks)
    for _, ids in _track_frames(_open_video(video), given, network, inference_config):
        yield ids


def _overlay(frame: np.ndarray, ids: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB ``frame`` with each object of ``ids`` blended in its ``palette`` colour."""
    objects = [int(i) for i in np.unique(ids) if i != 0]
    masks = np.stack([ids == i for i in objects]) if objects else np.zeros((0, *ids.shape), bool)
    return overlay_masks(frame, masks, OVERLAY_ALPHA, colours=palette[objects])


def track_to_folder(video: FramesLike, masks: MasksLike, out: Union[str, Path], network: Optional[XMem] = None,
                    checkpoint: Optional[Union[str, Path]] = None, overlay: Optional[Union[str, Path]] = None,
                    device: Union[str, torch.device] = 'cpu', inference_config: Optional[dict] = None,
                    progress: bool = False) -> Path:
    """Track the objects and write ``out/00000.png, 00001.png, ...`` (and an overlay video), all or nothing.

    The masks are palette PNGs with the palette of the given masks (the DAVIS palette when they have
    none). Both outputs are filled under hidden temporary names beside them and renamed into place
    when the whole video is done, so a failed run leaves neither.

    Args:
        video, masks, network, checkpoint, device, inference_config: as :func:`track`.
        out: folder for the masks; it must not exist.
        overlay: also write the frames with the objects blended in, a video file (``VIDEO_FORMATS``).
        progress: show a tqdm progress bar.

    Returns:
        ``out``.

    Raises:
        TrackingInputError: ``out`` exists, ``overlay`` is no video name, or anything :func:`track` raises.
    """
    out = Path(out)
    if out.exists():
        raise TrackingInputError(f'{out} exists; choose a new output folder')
    overlay = None if overlay is None else Path(overlay)
    if overlay is not None and overlay.suffix.lower() not in VIDEO_FORMATS:
        raise TrackingInputError(f'the overlay must end in one of {sorted(VIDEO_FORMATS)}, got {overlay.name}')
    network = _network(network, checkpoint, device)
    given, palette = read_given_masks(masks)
    palette = davis_palette() if palette is None else palette
    frames = _open_video(video)
    fps = getattr(frames, 'fps', None) or DEFAULT_FPS
    total = getattr(frames, 'num_frames', None)
    writer = None
    with ExitStack() as outputs:
        staged_masks = outputs.enter_context(atomic_path(out))
        staged_masks.mkdir()
        staged_overlay = None if overlay is None else outputs.enter_context(atomic_path(overlay))
        try:
            pairs = _track_frames(frames, given, network, inference_config)
            for t, (frame, ids) in enumerate(tqdm(pairs, total=total, desc='tracking', unit='frame',
                                                  disable=not progress)):
                write_palette_png(staged_masks / f'{t:05d}.png', ids, palette)
                if staged_overlay is not None:
                    if writer is None:
                        writer = VideoWriter(staged_overlay, VIDEO_FORMATS[overlay.suffix.lower()], frame.shape[:2],
                                             fps)
                    writer.write(_overlay(frame, ids, palette))
            if writer is not None:
                writer.close()
        finally:
            if writer is not None:
                writer.abort()
    return out
