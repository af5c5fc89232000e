"""Segment, track and remove objects in one video, SAM 2-style: :class:`VideoSession`.

::

    from seg.apis import VideoSession
    session = VideoSession('video.mp4')                     # backends chosen by what is under checkpoints/
    mask = session.add_prompt(0, obj_id=1, points=[(320, 40)])             # (H, W) bool at once
    for t, masks in session.propagate():                     # streams: one frame decoded at a time
        ...                                                  # masks: {obj_id: (H, W) bool}
    session.correct(40, obj_id=1, points=[(300, 90), (310, 20)], labels=[1, 0])
    for _ in session.propagate(start=40):                    # re-track object 1 from frame 40 on
        pass
    session.export('out/', formats=('png', 'coco_rle', 'overlay_mp4'))
    session.inpaint([1], 'removed.mp4')

Backends, each chosen once by what is available and logged with the reason:

* segmenter (prompt → mask on one frame): :class:`~seg.models.segmenters.FastSAM2Segmenter`
  when ``<checkpoints>/fastsam2.pth`` and its config ``<checkpoints>/fastsam2.py`` exist,
  else :class:`~seg.models.segmenters.GrabCutSegmenter` (no weights);
* tracker: :class:`~seg.models.trackers.XMemTracker` when ``<checkpoints>/XMem.pth``
  exists, else :class:`~seg.models.trackers.FlowMaskPropagator` (no weights);
* inpainter: ProPainter when ``<checkpoints>/propainter/`` holds its three release
  files, else E2FGVI-HQ when ``<checkpoints>/E2FGVI-HQ-CVPR22.pth`` exists, else
  :class:`~seg.models.inpainters.FlowPropagationInpainter` (no weights).

Memory stays bounded over long videos: frames are decoded on demand
(:class:`~seg.fileio.frame_reader.FrameReader`, a few kept), and every mask is
kept as a COCO run-length encoding (pycocotools), a few hundred bytes per object
and frame instead of H x W.

Exports (``export``), each written under a temporary name and renamed when
complete (nothing half-written is ever left):

* ``png``: ``<out>/masks/00000.png, 00001.png, ...`` one palette PNG per frame
  (DAVIS layout and palette; pixel value = object id, 0 background; where
  objects overlap the larger id wins);
* ``coco_rle``: ``<out>/masks_coco_rle.json``, one JSON for the whole video:
  ``{"video", "height", "width", "num_frames", "fps", "frames": [{"frame": t,
  "objects": [{"id", "area", "bbox" [x, y, w, h], "segmentation": {"size": [H, W],
  "counts": str}}]}]}``, every frame listed; decode a segmentation with
  ``pycocotools.mask.decode``;
* ``overlay_mp4``: ``<out>/overlay.mp4``, the frames with the objects blended in
  their palette colours.
"""
import tempfile
import threading
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from pycocotools import mask as mask_utils

from seg.fileio.atomic import atomic_path, remove_stale_parts, write_json_atomic
from seg.fileio.errors import InputError
from seg.fileio.frame_reader import FrameReader
from seg.fileio.frames import FrameSourceError, VideoWriter
from seg.fileio.palette import davis_palette, write_palette_png
from seg.models.propainter.propainter_inpainter import WEIGHT_FILES as PROPAINTER_WEIGHT_FILES
from seg.models.segmenters import FastSAM2Segmenter, GrabCutSegmenter, SegmenterPromptError
from seg.models.trackers import FlowMaskPropagator, XMemTracker
from seg.registry import MODELS
from seg.visualization.overlay import overlay_masks

from .inpaint import init_inpainter, inpaint_video
from .runner import load_config

__all__ = ['VideoSession', 'VideoSessionError', 'SessionBusyError', 'EXPORT_FORMATS']

#: What :meth:`VideoSession.export` writes, by format name: the path under the output folder.
EXPORT_FORMATS = {'png': 'masks', 'coco_rle': 'masks_coco_rle.json', 'overlay_mp4': 'overlay.mp4'}
#: Weights (and config) files looked for under ``checkpoints``.
SEGMENTER_WEIGHTS, SEGMENTER_CONFIG = 'fastsam2.pth', 'fastsam2.py'
TRACKER_WEIGHTS = 'XMem.pth'
INPAINTER_WEIGHTS = 'E2FGVI-HQ-CVPR22.pth'
#: Folder (under ``checkpoints``) of ProPainter's release files, preferred over E2FGVI-HQ.
PROPAINTER_DIR = 'propainter'
#: The config E2FGVI-HQ's released weights load into.
INPAINTER_CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'e2fgvi' / 'e2fgvi_hq_test.py'
#: Object ids a palette PNG can hold (0 is background, 255 void).
MAX_OBJECT_ID = 254
#: Frame rate of exports when the source (a frame folder) has none.
DEFAULT_FPS = Fraction(24)
#: Overlay opacity of object colours.
OVERLAY_ALPHA = 0.5
#: A backward pass decodes this many frames forward at a time, then hands them out last first.
REVERSE_BLOCK = 32

Progress = Callable[[int, int], None]  # (frames done, frames in the pass)
Rle = dict  # pycocotools RLE: {'size': [H, W], 'counts': bytes}


class VideoSessionError(InputError):
    """A request the session cannot serve: a frame past the end, an unknown object, a prompt outside the frame."""


class SessionBusyError(VideoSessionError):
    """A second propagation, inpainting, export or change of objects while a propagation or inpainting runs."""


def encode_mask(mask: np.ndarray) -> Rle:
    """(H, W) bool → COCO RLE (``counts`` as bytes)."""
    return mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))


def decode_mask(rle: Rle) -> np.ndarray:
    """COCO RLE → (H, W) bool."""
    return np.ascontiguousarray(mask_utils.decode(rle), dtype=bool)


class VideoSession:
    """One video, the objects a person picks in it, their masks on every frame, and the backends that make them.

    Args:
        video: a video file (PyAV), a folder of frames or a zip of frames.
        segmenter: an object with ``segment(frame, points, labels, box, mask, text)``, a MODELS config dict,
            or None to choose by the weights under ``checkpoints`` (see the module docstring).
        tracker: an object with ``reset()``, ``step(frame, new_masks)``, ``remove(obj_id)``, a config dict, or None.
        inpainter: a module with ``inpaint_window`` (``seg.apis.init_inpainter``), or None.
        device: where networks run (``cpu``, ``cuda``, ...).
        checkpoints: folder searched for weights.
        work_dir: folder for temporary files (the masks handed to the inpainter); default the system's.

    Raises:
        VideoSessionError: the video is missing or will not decode.
    """

    def __init__(self, video: Union[str, Path], segmenter=None, tracker=None, inpainter=None,
                 device: Union[str, torch.device] = 'cpu', checkpoints: Union[str, Path] = 'checkpoints',
                 work_dir: Optional[Union[str, Path]] = None):
        #: The video's path; frames are read from it on demand.
        self.video = Path(video)
        try:
            #: Random access to frames for :meth:`frame` and prompts (a few kept decoded).
            self.reader = FrameReader(self.video)
            self.reader[0]  # a file that is no video fails here, not at the first click
        except FrameSourceError as err:
            raise VideoSessionError(str(err)) from None
        #: Frames in the video.
        self.num_frames: int = self.reader.num_frames
        #: (H, W) px of every frame.
        self.size: Tuple[int, int] = self.reader.size
        #: Frames per second (a Fraction), or None for frame folders.
        self.fps: Optional[Fraction] = self.reader.fps
        #: Where networks run.
        self.device = device
        #: Folder for temporary files, or None for the system's.
        self.work_dir = None if work_dir is None else Path(work_dir)
        checkpoints = Path(checkpoints)
        #: {role: (backend class name, why it was chosen)} for 'segmenter', 'tracker', 'inpainter'.
        self.backends: Dict[str, Tuple[str, str]] = {}
        #: Prompt → mask on one frame (``segment(frame, points, labels, box, mask, text)``).
        self.segmenter = self._choose('segmenter', segmenter, self._default_segmenter, checkpoints)
        #: Masks from frame to frame (``reset()``, ``step(frame, new_masks)``, ``remove(obj_id)``); reset per pass.
        self.tracker = self._choose('tracker', tracker, self._default_tracker, checkpoints)
        #: Removes masked regions (``inpaint_window``), run by :func:`~seg.apis.inpaint.inpaint_video`.
        self.inpainter = self._choose('inpainter', inpainter, self._default_inpainter, checkpoints)
        for role, (name, reason) in self.backends.items():
            print_log(f'{role}: {name} ({reason})', logger='current')
        #: The masks objects were given (prompted or corrected) with: {obj_id: {frame: RLE}}. A propagation
        #: passing one of these frames re-seeds the object there.
        self.seeds: Dict[int, Dict[int, Rle]] = {}
        #: The latest known mask of every object on every frame it has one: {frame: {obj_id: RLE}}.
        self.frame_masks: Dict[int, Dict[int, Rle]] = {}
        # Held while a propagation or inpainting runs (see ``busy``).
        self._busy = threading.Lock()

    # ------------------------------------------------------------------ backends
    def _choose(self, role: str, given, default: Callable[[Path], Tuple[object, str]], checkpoints: Path):
        """The backend of ``role``: ``given`` (built when a config dict), or ``default(checkpoints)``."""
        if given is None:
            backend, reason = default(checkpoints)
        elif isinstance(given, dict):
            with DefaultScope.overwrite_default_scope('seg'):
                backend, reason = MODELS.build(given), 'given as a config'
        else:
            backend, reason = given, 'given'
        self.backends[role] = (type(backend).__name__, reason)
        return backend

    def _default_segmenter(self, checkpoints: Path) -> Tuple[object, str]:
        weights, config = checkpoints / SEGMENTER_WEIGHTS, checkpoints / SEGMENTER_CONFIG
        if weights.is_file() and config.is_file():
            return FastSAM2Segmenter(load_config(str(config)).model, weights, self.device), f'{weights} found'
        missing = weights if not weights.is_file() else config
        return GrabCutSegmenter(), f'{missing} not found'

    def _default_tracker(self, checkpoints: Path) -> Tuple[object, str]:
        weights = checkpoints / TRACKER_WEIGHTS
        if weights.is_file():
            return XMemTracker(checkpoint=weights, device=self.device), f'{weights} found'
        return FlowMaskPropagator(), f'{weights} not found'

    def _default_inpainter(self, checkpoints: Path) -> Tuple[object, str]:
        propainter = checkpoints / PROPAINTER_DIR
        if all((propainter / name).is_file() for name in PROPAINTER_WEIGHT_FILES.values()):
            return (init_inpainter(model='propainter', weights_dir=str(propainter), device=str(self.device)),
                    f'{propainter}/ holds the ProPainter release files')
        weights = checkpoints / INPAINTER_WEIGHTS
        if weights.is_file():
            return init_inpainter(str(INPAINTER_CONFIG), str(weights), str(self.device)), f'{weights} found'
        return (init_inpainter(device=str(self.device)),
                f'neither {propainter}/ (ProPainter) nor {weights} (E2FGVI-HQ) found')

    def close(self) -> None:
        """Release the open video file (a later read opens it again)."""
        self.reader.close()

    def __enter__(self) -> 'VideoSession':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------ state
    @property
    def busy(self) -> bool:
        """Whether a propagation or an inpainting runs now."""
        return self._busy.locked()

    @property
    def objects(self) -> List[int]:
        """Ids of the objects given so far (and not removed), ascending."""
        return sorted(self.seeds)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index``, (H, W, 3) uint8 RGB, read-only.

        Raises:
            VideoSessionError: the index is past the end (or negative), or the frame does not decode.
        """
        self._check_frame(index)
        try:
            return self.reader[index]
        except FrameSourceError as err:
            raise VideoSessionError(str(err)) from None

    def masks(self, frame_index: int) -> Dict[int, np.ndarray]:
        """The latest known masks of frame ``frame_index``: {obj_id: (H, W) bool} (objects without one left out)."""
        self._check_frame(frame_index)
        return {obj: decode_mask(rle) for obj, rle in sorted(self.frame_masks.get(frame_index, {}).items())}

    def overlay(self, frame_index: int) -> np.ndarray:
        """Frame ``frame_index`` with its known masks blended in their DAVIS palette colours, (H, W, 3) uint8 RGB."""
        return self._overlay(self.frame(frame_index), self._ids(frame_index))

    @staticmethod
    def _overlay(frame: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """``frame`` (H, W, 3) uint8 RGB with each object of ``ids`` (H, W) uint8 blended in its palette colour."""
        objects = [int(i) for i in np.unique(ids) if i]
        stack = np.stack([ids == i for i in objects]) if objects else np.zeros((0, *ids.shape), bool)
        return overlay_masks(frame, stack, OVERLAY_ALPHA, colours=davis_palette()[objects])

    def _check_frame(self, index) -> None:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise VideoSessionError(f'a frame index must be an int; got {index!r}')
        if not 0 <= index < self.num_frames:
            raise VideoSessionError(f'frame {index} is past the end: the video has {self.num_frames} frames '
                                    f'(0..{self.num_frames - 1})')

    def _check_object(self, obj_id) -> None:
        if obj_id not in self.seeds:
            known = ', '.join(map(str, self.objects)) or 'none yet'
            raise VideoSessionError(f'unknown object id {obj_id!r} (objects: {known}); add it with add_prompt first')

    def _check_idle(self, what: str) -> None:
        if self.busy:
            raise SessionBusyError(f'cannot {what} while a propagation or inpainting runs in this session; wait '
                                   'for it to finish')

    # ------------------------------------------------------------------ prompts
    def add_prompt(self, frame: int, obj_id: int, points: Optional[Sequence[Sequence[float]]] = None,
                   labels: Optional[Sequence[int]] = None, box: Optional[Sequence[float]] = None,
                   mask: Optional[np.ndarray] = None, text: Optional[str] = None) -> np.ndarray:
        """Give object ``obj_id`` (new or known) a prompt on ``frame``; its mask there, at once.

        The prompt is complete: it replaces an earlier prompt of the object on that frame (send
        every click so far to refine with one more). A mask alone is taken as the object's mask;
        with other prompts it is a rough mask the segmenter starts from. The object is (re)seeded
        on ``frame``: a propagation passing it starts the object there.

        Args:
            frame: frame index.
            obj_id: 1..254.
            points: (x, y) px clicks; ``labels`` 1 positive, 0 negative (default all positive).
            box: (x1, y1, x2, y2) px.
            mask: (H, W) bool.
            text: a sentence (segmenters with a text encoder only).

        Returns:
            (H, W) bool.

        Raises:
            VideoSessionError: a frame past the end, an object id outside 1..254, an empty prompt, a click or
                box outside the frame, a mask of another size, a text the segmenter cannot read.
            SessionBusyError: a propagation or inpainting runs.
        """
        self._check_idle('add a prompt')
        self._check_frame(frame)
        if isinstance(obj_id, (bool, np.bool_)) or not isinstance(obj_id, (int, np.integer)) or \
                not 1 <= obj_id <= MAX_OBJECT_ID:
            raise VideoSessionError(f'object ids are ints 1..{MAX_OBJECT_ID} (palette PNG values); got {obj_id!r}')
        image = self.frame(frame)
        try:
            if mask is not None and points is None and box is None and text is None:
                mask = np.asarray(mask)
                if mask.shape != self.size:
                    raise SegmenterPromptError(f'the mask is {"x".join(map(str, mask.shape))} but the frame is '
                                               f'{self.size[0]}x{self.size[1]} (H x W); give a mask of the frame size')
                result = mask.astype(bool)
            else:
                result = np.asarray(self.segmenter.segment(image, points=points, labels=labels, box=box, mask=mask,
                                                           text=text), bool)
        except SegmenterPromptError as err:
            raise VideoSessionError(f'object {obj_id} on frame {frame}: {err}') from None
        rle = encode_mask(result)
        self.seeds.setdefault(int(obj_id), {})[int(frame)] = rle
        self.frame_masks.setdefault(int(frame), {})[int(obj_id)] = rle
        return result

    def correct(self, frame: int, obj_id: int, points: Optional[Sequence[Sequence[float]]] = None,
                labels: Optional[Sequence[int]] = None, box: Optional[Sequence[float]] = None,
                mask: Optional[np.ndarray] = None, text: Optional[str] = None) -> np.ndarray:
        """Fix a known object's mask on ``frame`` and re-seed it from there (as :meth:`add_prompt`).

        Masks of later frames stay as they were until the next :meth:`propagate` passes ``frame``
        (e.g. ``propagate(start=frame)``), which tracks the object from the corrected mask.

        Raises:
            VideoSessionError: an unknown object id, or anything :meth:`add_prompt` raises.
        """
        self._check_idle('correct an object')
        self._check_object(obj_id)
        return self.add_prompt(frame, obj_id, points=points, labels=labels, box=box, mask=mask, text=text)

    def remove_object(self, obj_id: int) -> None:
        """Forget object ``obj_id``: its prompts and masks on every frame.

        Raises:
            VideoSessionError: an unknown object id. SessionBusyError: a propagation or inpainting runs.
        """
        self._check_idle('remove an object')
        self._check_object(obj_id)
        del self.seeds[obj_id]
        for masks in self.frame_masks.values():
            masks.pop(obj_id, None)
        self.tracker.remove(obj_id)

    def reset(self) -> None:
        """Forget every object, prompt and mask (the video and backends stay).

        Raises:
            SessionBusyError: a propagation or inpainting runs.
        """
        self._check_idle('reset')
        self.seeds.clear()
        self.frame_masks.clear()
        self.tracker.reset()

    # ------------------------------------------------------------------ tracking
    def propagate(self, start: Optional[int] = None, reverse: bool = False,
                  progress: Optional[Progress] = None) -> Iterator[Tuple[int, Dict[int, np.ndarray]]]:
        """Track every object from ``start`` to the last frame (or back to frame 0), streaming.

        At ``start`` each object takes its seed there if it has one, else its known mask there
        when it was seeded before ``start`` (in the direction of the pass); objects seeded later
        join on their seed frame, and a seed met on the way (a correction) re-seeds its object.
        Each frame's masks replace the frame's known masks as they are yielded; stopping early
        (``break``) keeps those computed so far.

        Args:
            start: first frame of the pass; default the first seeded frame (the last for ``reverse``).
            reverse: go backwards, towards frame 0.
            progress: called with (frames done, frames in the pass) after each frame.

        Yields:
            (frame index, {obj_id: (H, W) bool}) in the order of the pass.

        Raises:
            VideoSessionError: no object yet, or ``start`` past the end.
            SessionBusyError: another propagation or inpainting runs (raised here, or on the first
                frame if that one starts in between).
        """
        self._check_idle('propagate')
        if not self.seeds:
            raise VideoSessionError('no object to propagate: add a prompt (add_prompt) first')
        seeded = [t for frames in self.seeds.values() for t in frames]
        if start is None:
            start = max(seeded) if reverse else min(seeded)
        self._check_frame(start)
        return self._propagate(int(start), reverse, progress)

    def _propagate(self, start: int, reverse: bool, progress: Optional[Progress]):
        if not self._busy.acquire(blocking=False):
            raise SessionBusyError('cannot propagate while a propagation or inpainting runs in this session; wait '
                                   'for it to finish')
        try:
            order = range(start, -1, -1) if reverse else range(start, self.num_frames)
            before = (lambda t: t >= start) if reverse else (lambda t: t <= start)
            self.tracker.reset()
            known = self.frame_masks.get(start, {})
            initial = {obj: frames.get(start, known.get(obj)) for obj, frames in self.seeds.items()
                       if any(before(t) for t in frames)}
            initial = {obj: rle for obj, rle in initial.items() if rle is not None}
            for done, (t, image) in enumerate(zip(order, self._frames(start, reverse)), start=1):
                given = initial if t == start else {obj: frames[t] for obj, frames in self.seeds.items()
                                                     if t in frames}
                masks = self.tracker.step(image, {obj: decode_mask(rle) for obj, rle in given.items()} or None)
                masks = {obj: np.asarray(m, bool) for obj, m in sorted(masks.items()) if obj in self.seeds}
                self.frame_masks[t] = {obj: encode_mask(m) for obj, m in masks.items()}
                if progress is not None:
                    progress(done, len(order))
                yield t, masks
        except FrameSourceError as err:
            raise VideoSessionError(str(err)) from None
        finally:
            self._busy.release()

    def _frames(self, start: int, reverse: bool) -> Iterator[np.ndarray]:
        """Frames ``start, start + 1, ...`` (or ``start, start - 1, ..., 0``) read by a reader of their own."""
        reader = FrameReader(self.video, cache_size=1)
        try:
            if not reverse:
                for t in range(start, self.num_frames):
                    yield reader[t]
                return
            for top in range(start, -1, -REVERSE_BLOCK):
                block = [reader[t] for t in range(max(0, top - REVERSE_BLOCK + 1), top + 1)]
                yield from reversed(block)
        finally:
            reader.close()

    # ------------------------------------------------------------------ outputs
    def _ids(self, t: int) -> np.ndarray:
        """(H, W) uint8 object ids of frame ``t``'s known masks (0 background; the larger id wins an overlap)."""
        ids = np.zeros(self.size, np.uint8)
        for obj, rle in sorted(self.frame_masks.get(t, {}).items()):
            ids[decode_mask(rle)] = obj
        return ids

    def export(self, out_dir: Union[str, Path], formats: Sequence[str] = tuple(EXPORT_FORMATS),
               progress: Optional[Progress] = None,
               names: Optional[Mapping[str, Union[str, Path]]] = None) -> Dict[str, Path]:
        """Write the known masks of every frame (see the module docstring for the layouts).

        Args:
            out_dir: folder (created); the outputs of ``formats`` must not exist in it yet.
            formats: any of ``'png'``, ``'coco_rle'``, ``'overlay_mp4'``.
            progress: called with (frames done, frames) while writing.
            names: other paths for some formats than :data:`EXPORT_FORMATS`'s, relative to ``out_dir``
                (or absolute), e.g. ``{'png': 'annotations'}``.

        Returns:
            {format: path written}.

        Raises:
            VideoSessionError: an unknown format, an output that exists, no masks yet.
            SessionBusyError: a propagation or inpainting runs.
        """
        self._check_idle('export')
        formats = list(dict.fromkeys(formats))
        unknown = [f for f in formats if f not in EXPORT_FORMATS]
        if unknown or not formats:
            raise VideoSessionError(f'export formats must be some of {list(EXPORT_FORMATS)}; got {formats}')
        if not any(self.frame_masks.values()):
            raise VideoSessionError('no masks to export: add a prompt and propagate first')
        out_dir = Path(out_dir)
        names = dict(EXPORT_FORMATS, **(names or {}))
        targets = {f: out_dir / names[f] for f in formats}
        existing = [str(p) for p in targets.values() if p.exists() or p.is_symlink()]
        if existing:
            raise VideoSessionError(f'{", ".join(existing)} exists; export into a new folder')
        palette = davis_palette()
        for target in targets.values():
            remove_stale_parts(target)
        with ExitStack() as outputs:
            writer = frames = None
            if 'png' in targets:
                png_dir = outputs.enter_context(atomic_path(targets['png']))
                png_dir.mkdir()
            if 'overlay_mp4' in targets:
                overlay_file = outputs.enter_context(atomic_path(targets['overlay_mp4']))
                writer = VideoWriter(overlay_file, 'mp4', self.size, self.fps or DEFAULT_FPS)
                frames = self._frames(0, False)
            try:
                for t in range(self.num_frames):
                    ids = self._ids(t)
                    if 'png' in targets:
                        write_palette_png(png_dir / f'{t:05d}.png', ids, palette)
                    if writer is not None:
                        writer.write(self._overlay(next(frames), ids))
                    if progress is not None:
                        progress(t + 1, self.num_frames)
                if writer is not None:
                    writer.close()
            finally:
                if writer is not None:
                    writer.abort()
                    frames.close()
            if 'coco_rle' in targets:
                write_json_atomic(targets['coco_rle'], self._coco_rle(), indent=None)
        return targets

    def _coco_rle(self) -> dict:
        """The ``coco_rle`` export as a JSON-ready dict (see the module docstring)."""
        frames = []
        for t in range(self.num_frames):
            objects = []
            for obj, rle in sorted(self.frame_masks.get(t, {}).items()):
                objects.append(dict(id=obj, area=int(mask_utils.area(rle)),
                                    bbox=[float(v) for v in mask_utils.toBbox(rle)],
                                    segmentation=dict(size=[int(s) for s in rle['size']],
                                                      counts=rle['counts'].decode('ascii'))))
            frames.append(dict(frame=t, objects=objects))
        return dict(video=str(self.video), height=self.size[0], width=self.size[1], num_frames=self.num_frames,
                    fps=None if self.fps is None else float(self.fps), frames=frames)

    def inpaint(self, obj_ids: Sequence[int], out: Union[str, Path], preview: Optional[Union[str, Path]] = None,
                progress: bool = False, **options) -> Path:
        """Remove objects ``obj_ids`` from the video with the session's inpainter; the result video or folder.

        The hole of each frame is the union of those objects' known masks there (frames where none
        has a mask are kept as they are), handed to :func:`~seg.apis.inpaint.inpaint_video`.

        Args:
            obj_ids: objects to remove.
            out: a video file (``.mp4``, ...) or a folder for PNG frames (see ``inpaint_video``).
            preview: an image file for a side-by-side picture (mask overlay | result) of the middle frame.
            progress: show a progress bar.
            options: further arguments of ``inpaint_video`` (``mask_dilation``, ``max_side``, ...).

        Raises:
            VideoSessionError: no object ids, or an unknown one. SessionBusyError: a propagation or
                inpainting runs. InpaintInputError: anything ``inpaint_video`` refuses.
        """
        obj_ids = list(obj_ids)
        if not obj_ids:
            raise VideoSessionError('give the ids of the objects to remove')
        for obj in obj_ids:
            self._check_object(obj)
        if not self._busy.acquire(blocking=False):
            raise SessionBusyError('cannot inpaint while a propagation or inpainting runs in this session; wait '
                                   'for it to finish')
        try:
            if self.work_dir is not None:
                self.work_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix='session_holes_', dir=self.work_dir) as holes:
                for t in range(self.num_frames):
                    hole = np.zeros(self.size, np.uint8)
                    for obj in obj_ids:
                        rle = self.frame_masks.get(t, {}).get(obj)
                        if rle is not None:
                            hole[decode_mask(rle)] = 1
                    write_palette_png(Path(holes) / f'{t:05d}.png', hole, davis_palette())
                return inpaint_video(self.video, holes, out, inpainter=self.inpainter, device=str(self.device),
                                     preview_path=preview, progress=progress, **options)
        finally:
            self._busy.release()
