"""Track objects through a video of any length from their first masks (XMem), one frame in memory at a time.

::

    from seg.apis import track, track_to_folder
    for t, ids in enumerate(track('video.mp4', 'masks/00000.png', checkpoint='checkpoints/XMem.pth')):
        ...  # (H, W) uint8 object ids, the values of the given masks (0 = background)
    track_to_folder('video.mp4', 'masks/', 'out/', checkpoint='checkpoints/XMem.pth', overlay='out.mp4')

Masks: one palette PNG (frame 0), a folder of palette PNGs whose names are
frame indices (``00000.png``, ``00042.png``: objects may first appear on a later
frame, as in YouTube-VOS), an (H, W) id array, or a dict ``{frame index: ids}``.
They must be lossless: a JPEG is refused by its content, and so is a mask whose
ids look like compression or anti-aliasing noise (:func:`check_lossless`).
Frames: a video file (decoded lazily with PyAV), a folder of frames, or any
iterable of (H, W, 3) uint8 RGB arrays. Both functions drive one
:class:`~seg.models.xmem.inference.XMemSession`, as ``XMemVOS.predict`` does.
"""
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, Mapping, Optional, Sized, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from seg.datasets.vos_clip_dataset import normalise_frames
from seg.fileio.atomic import atomic_path
from seg.fileio.frames import VIDEO_FORMATS, FrameSourceError, VideoWriter, open_frames
from seg.fileio.palette import PaletteMaskError, davis_palette, read_palette_png, write_palette_png
from seg.models.xmem import XMem, XMemCheckpointError, load_xmem_checkpoint
from seg.models.xmem.inference import TrackingInputError, XMemSession, as_object_ids
from seg.models.xmem.inference.object_manager import NOT_OBJECTS
from seg.visualization.overlay import overlay_masks

FramesLike = Union[str, Path, Iterable[np.ndarray]]
MasksLike = Union[str, Path, np.ndarray, Mapping[int, np.ndarray]]

#: Overlay opacity of object colours.
OVERLAY_ALPHA = 0.5
#: Frame rate of the overlay video when the frames have none (frame folders, arrays).
DEFAULT_FPS = Fraction(24)
#: A given object covering fewer pixels than this is a speck: less than a 4x4 square, far below one of
#: XMem's 16x16-pixel feature cells, and what compression and anti-aliasing scatter along object edges.
SPECK_PIXELS = 16
#: More object ids than this in one mask are noise, not objects (XMem keeps a memory per object).
MAX_OBJECT_IDS = 100


def init_tracker(checkpoint: Union[str, Path], device: Union[str, torch.device] = 'cpu') -> XMem:
    """XMem with the weights of a local checkpoint (see :func:`~seg.models.xmem.load_xmem_checkpoint`), in eval mode.

    Raises:
        TrackingInputError: the file is missing or holds no XMem weights.
    """
    try:
        state_dict = load_xmem_checkpoint(checkpoint)
    except (FileNotFoundError, XMemCheckpointError) as err:
        raise TrackingInputError(str(err)) from None
    try:
        return XMem.from_state_dict(state_dict).to(device).eval()
    except XMemCheckpointError as err:
        raise TrackingInputError(f'{checkpoint}: {err}') from None


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


def check_lossless(given: Mapping[int, np.ndarray]) -> None:
    """Refuse masks whose ids look like lossy-compression or anti-aliasing noise rather than objects.

    A mask is noise when it holds more than :data:`MAX_OBJECT_IDS` object ids, or when it has specks (ids
    covering fewer than :data:`SPECK_PIXELS` pixels) and either more than one speck or ids that are not
    1..N over all the given masks. One small object in masks numbered 1..N is accepted, and so are
    sparse ids (3, 7, 40) of objects larger than specks.

    Args:
        given: {frame index: (H, W) uint8 object ids (0 background, 255 void)}.

    Raises:
        TrackingInputError: a mask that looks like noise, naming its ids and the fix.
    """
    all_ids = set()
    for ids in given.values():
        all_ids.update(int(i) for i in np.unique(ids) if int(i) not in NOT_OBJECTS)
    numbered = all_ids == set(range(1, len(all_ids) + 1))
    for t, ids in sorted(given.items()):
        values, counts = np.unique(ids, return_counts=True)
        objects = [(int(i), int(n)) for i, n in zip(values, counts) if int(i) not in NOT_OBJECTS]
        specks = [i for i, n in objects if n < SPECK_PIXELS]
        if len(objects) > MAX_OBJECT_IDS or (specks and (len(specks) > 1 or not numbered)):
            gaps = '' if numbered else ' and ids that are not 1..N'
            raise TrackingInputError(
                f'mask of frame {t} looks like compression or anti-aliasing noise, not object ids: {len(objects)} '
                f'ids, {len(specks)} of them covering fewer than {SPECK_PIXELS} pixels (e.g. {specks[:5]}){gaps}. '
                f'Masks must be lossless: give a palette PNG, or a PNG label image whose pixel values are object '
                f'ids (0 background), never a JPEG or a resized mask')


def _given_masks(masks: MasksLike) -> Tuple[Dict[int, np.ndarray], Optional[np.ndarray]]:
    """The given masks and their palette as :func:`read_given_masks` returns them, checked before any frame is read.

    Each mask becomes (H, W) uint8 (:func:`~seg.models.xmem.inference.as_object_ids`), then all are checked
    together by :func:`check_lossless`; frame indices must not be negative.
    """
    given, palette = read_given_masks(masks)
    negative = sorted(t for t in given if t < 0)
    if negative:
        raise TrackingInputError(f'masks were given for frame {negative[0]}; frame indices start at 0')
    given = {t: as_object_ids(ids, t) for t, ids in given.items()}
    check_lossless(given)
    return given, palette


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
    if isinstance(frames, Sized) and len(frames) <= max(given):
        raise TrackingInputError(f'a mask was given for frame {max(given)} but the video has {len(frames)} frames')
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
        TrackingInputError: no first-frame mask, a mask that is no (H, W) map of ids in 0..255, looks like
            noise (a JPEG, see :func:`check_lossless`) or differs in size from the frames, a mask for a frame
            the video does not have, an unreadable frame, mask or checkpoint, a bad ``inference_config``.
    """
    given, _ = _given_masks(masks)
    network = _network(network, checkpoint, device)
    for _, ids in _track_frames(_open_video(video), given, network, inference_config):
        yield ids


def _overlay(frame: np.ndarray, ids: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB ``frame`` with each object of ``ids`` blended in its ``palette`` colour."""
    objects = [int(i) for i in np.unique(ids) if i != 0]
    masks = np.stack([ids == i for i in objects]) if objects else np.zeros((0, *ids.shape), bool)
    return overlay_masks(frame, masks, OVERLAY_ALPHA, colours=palette[objects])


def _stage(outputs: ExitStack, target: Path, create: Callable[[Path], None]) -> Path:
    """Claim a hidden staging path beside ``target`` (removed unless ``outputs`` closes cleanly) and create it.

    Args:
        outputs: the stack whose clean exit renames the staged path to ``target`` (:func:`atomic_path`).
        target: the final output path (checked not to exist).
        create: makes the staged file or folder (``Path.touch``, ``Path.mkdir``).

    Raises:
        TrackingInputError: a path above ``target`` is a file, or its folder cannot be written.
    """
    above = next((p for p in target.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise TrackingInputError(f'cannot write {target}: {above} is not a folder')
    try:
        staged = outputs.enter_context(atomic_path(target))
        create(staged)
    except OSError as err:
        raise TrackingInputError(f'cannot write {target}: {err.strerror} ({err.filename}); choose an output in a '
                                 f'folder you can write') from None
    return staged


def track_to_folder(video: FramesLike, masks: MasksLike, out: Union[str, Path], network: Optional[XMem] = None,
                    checkpoint: Optional[Union[str, Path]] = None, overlay: Optional[Union[str, Path]] = None,
                    device: Union[str, torch.device] = 'cpu', inference_config: Optional[dict] = None,
                    progress: bool = False) -> Path:
    """Track the objects and write ``out/00000.png, 00001.png, ...`` (and an overlay video), all or nothing.

    The masks are palette PNGs with the palette of the given masks (the DAVIS palette when they have
    none). The masks and both outputs are checked first; then the outputs are created under hidden
    temporary names beside them (which proves they can be written) and renamed into place when the
    whole video is done, so a failed or interrupted run (any exception, including the ``SystemExit`` a
    tool's SIGTERM handler raises) leaves neither.

    Args:
        video, masks, network, checkpoint, device, inference_config: as :func:`track`.
        out: folder for the masks; it must not exist.
        overlay: also write the frames with the objects blended in, a video file (``VIDEO_FORMATS``) that
            must not exist.
        progress: show a tqdm progress bar.

    Returns:
        ``out``.

    Raises:
        TrackingInputError: ``out`` or ``overlay`` exists or cannot be written, ``overlay`` is no video
            name, or anything :func:`track` raises.
    """
    out = Path(out)
    overlay = None if overlay is None else Path(overlay)
    for target, what in ((out, 'output folder'), (overlay, 'overlay file')):
        if target is not None and (target.exists() or target.is_symlink()):
            raise TrackingInputError(f'{target} exists; choose a new {what}')
    if overlay is not None and overlay.suffix.lower() not in VIDEO_FORMATS:
        raise TrackingInputError(f'the overlay must end in one of {sorted(VIDEO_FORMATS)}, got {overlay.name}')
    given, palette = _given_masks(masks)
    palette = davis_palette() if palette is None else palette
    writer = None
    with ExitStack() as outputs:
        staged_masks = _stage(outputs, out, Path.mkdir)
        staged_overlay = None if overlay is None else _stage(outputs, overlay, Path.touch)
        network = _network(network, checkpoint, device)
        frames = _open_video(video)
        fps = getattr(frames, 'fps', None) or DEFAULT_FPS
        total = getattr(frames, 'num_frames', None)
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
