"""Segment and track objects through a video with FastSAM2, from prompts given on any frame.

::

    from seg.apis import init_model, segment_video
    model = init_model('configs/fastsam2/fastsam2_r18_toy.py', 'work_dirs/fastsam2_r18_toy/iter_1500.pth')
    prompts = {0: {1: dict(points=[[40, 30]])},                        # object 1: a click on frame 0
               12: {2: dict(boxes=[10, 10, 60, 50]), 1: dict(mask=m)}}  # object 2 from frame 12; 1 corrected
    for t, ids, masks in segment_video(model, 'video.mp4', prompts):
        ...  # ids: the objects alive on frame t; masks: (len(ids), H, W) bool

A prompt for one object is a dict of any of: ``points`` [[x, y], ...] pixels,
``point_labels`` [1 | 0, ...] (positive by default), ``boxes`` [x1, y1, x2, y2]
pixels, ``mask`` (H, W) bool array, ``text`` a sentence. A prompt on a later
frame adds the object there or corrects it; ``remove={t: [ids]}`` drops objects
from frame t on (before that frame's prompts, so removing and prompting an id on
one frame restarts it). Frames stream one at a time (a video file decoded
lazily, a folder or zip of images, or any iterable of (H, W, 3) uint8 RGB
arrays); memory is bounded by the model's :class:`StreamingMemoryAdapter`.

The model's memory holds the tracking state: run one video at a time per model.
"""
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Sized, Tuple, Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from seg.fileio.errors import InputError
from seg.fileio.frames import FolderFrames, FrameSourceError, VideoFrames, ZipFrames, open_frames

from .prompts import check_prompt

FramesLike = Union[str, Path, Iterable[np.ndarray]]
PromptsLike = Mapping[int, Mapping[int, Mapping]]
#: One tracked frame: its index, the ids alive on it (sorted) and their (K, H, W) bool masks.
FrameResult = Tuple[int, List[int], np.ndarray]

#: Keys of one object's prompt.
PROMPT_KEYS = frozenset({'points', 'point_labels', 'boxes', 'mask', 'text'})
#: Frame sources of :func:`open_frames`, whose length and frame size are known before decoding.
_FRAME_SOURCES = (VideoFrames, FolderFrames, ZipFrames)


class VideoPromptError(InputError):
    """A prompt the video cannot take (unknown keys, a frame the video does not have, a bad shape)."""


def object_prompt(prompt: Mapping, frame_index: int, object_id: int) -> InstanceData:
    """One object's prompt (see the module docstring) → a one-object ``prompts`` InstanceData.

    Raises:
        VideoPromptError: the prompt is not a dict of :data:`PROMPT_KEYS`, or a value
            has the wrong shape. Values themselves (points inside the frame, ...) are
            checked against the frame by :func:`check_prompt`.
    """
    where = f'the prompt of object {object_id} on frame {frame_index}'
    if not isinstance(prompt, Mapping):
        raise VideoPromptError(f'{where} is a {type(prompt).__name__}; give a dict of any of {sorted(PROMPT_KEYS)}')
    unknown = set(prompt) - PROMPT_KEYS
    if unknown or not prompt:
        raise VideoPromptError(f'{where} has {"keys " + str(sorted(unknown)) if unknown else "nothing"}; a prompt '
                               f'holds any of {sorted(PROMPT_KEYS)}')
    out = InstanceData()
    if 'points' in prompt:
        points = _array(prompt['points'], np.float32, where, 'points', '[[x, y], ...] pixels')
        if points.size == 0 or points.size % 2:
            raise VideoPromptError(f'{where}: points must be [[x, y], ...] pixels; got shape {points.shape}')
        out.points = torch.from_numpy(points).reshape(1, -1, 2)
        labels = prompt.get('point_labels', [1] * out.points.shape[1])
        out.point_labels = torch.from_numpy(_array(labels, np.int64, where, 'point_labels', '[1 | 0, ...]')).reshape(
            1, -1)
        if out.point_labels.shape[1] != out.points.shape[1]:
            raise VideoPromptError(f'{where}: {out.points.shape[1]} points but {out.point_labels.shape[1]} '
                                   'point_labels; give one label per point')
    elif 'point_labels' in prompt:
        raise VideoPromptError(f'{where}: point_labels without points')
    if 'boxes' in prompt:
        boxes = _array(prompt['boxes'], np.float32, where, 'boxes', 'one [x1, y1, x2, y2]')
        if boxes.size != 4:
            raise VideoPromptError(f'{where}: boxes must be one [x1, y1, x2, y2]; got shape {boxes.shape}')
        out.boxes = torch.from_numpy(boxes).reshape(1, 4)
    if 'mask' in prompt:
        mask = np.asarray(prompt['mask'])
        if mask.ndim != 2:
            raise VideoPromptError(f'{where}: mask must be (H, W); got shape {mask.shape}')
        out.masks = torch.from_numpy(mask.astype(bool))[None]
    if 'text' in prompt:
        out.texts = [prompt['text']]  # a non-str or empty text is refused by check_prompt, naming it
    return out


def segment_video(model: torch.nn.Module, frames: FramesLike, prompts: PromptsLike,
                  remove: Optional[Mapping[int, Sequence[int]]] = None) -> Iterator[FrameResult]:
    """Track the prompted objects: ``(frame index, object ids, (K, H, W) bool masks)`` per frame, in order.

    Everything that can be checked without decoding a frame is checked when this
    is called, before the first frame: the prompts' form, removals of objects
    not tracked on that frame, and — when the video's length and frame size are
    known (a video file, a folder, a zip, a list or array of frames) — the frame
    indices and the prompts against the frame size. For other iterables these
    are checked on the frame (prompts) or after the last frame (frame indices).
    The model's memory is reset before the first frame and after the last, also
    when the iteration stops early (``close()``, ``break``) or fails.

    Args:
        model: a FastSAM2 in eval mode (``seg.apis.init_model``).
        frames: a video file, a frame folder or zip, or (H, W, 3) uint8 RGB arrays.
        prompts: ``{frame index: {object id: prompt}}`` (see the module docstring).
        remove: ``{frame index: [object ids]}`` to stop tracking from that frame.

    Returns:
        An iterator of ``(t, ids, masks)``: ``ids`` the objects alive on frame t
        (sorted), ``masks`` (len(ids), H, W) bool at the frame's size.

    Raises:
        VideoPromptError: a prompt or removal names a frame the video does not
            have, removes an object not tracked there, or is malformed.
        PromptError: a prompt the frame cannot take (a point outside the frame,
            a box with x2 < x1, an empty text, a mask of another size, ...).
        FrameSourceError: a frame source that cannot be read, or a frame that is
            not (H, W, 3) uint8.
    """
    if not hasattr(model, 'stream_step'):
        raise TypeError(f'segment_video needs a FastSAM2 model; got {type(model).__name__}')
    prompts = _object_prompts(prompts)
    remove = _removals(remove)
    _check_removals(prompts, remove)
    source = open_frames(frames) if isinstance(frames, (str, Path)) else frames
    length = _known_length(source)
    if length is not None:
        _check_frames(set(prompts) | set(remove), length)
    checked = set()
    for t, objects in prompts.items():
        size = _known_size(source, t)
        if size is not None:
            _check_objects(objects, t, size)
            checked.add(t)
    return _track(model, source, prompts, remove, checked)


def _track(model: torch.nn.Module, source: Iterable[np.ndarray], prompts: Dict[int, Dict[int, InstanceData]],
           remove: Dict[int, List[int]], checked: Set[int]) -> Iterator[FrameResult]:
    """The frames of ``source`` through ``model.stream_step``; ``checked``: frames whose prompts were checked."""
    device = next(model.parameters()).device
    frames = iter(source)
    model.memory.reset()
    seen = 0
    try:
        for t, rgb in enumerate(frames):
            seen = t + 1
            yield (t, *_one_frame(model, rgb, t, prompts.get(t), remove.get(t, ()), device, t in checked))
    finally:
        model.memory.reset()
        if isinstance(source, _FRAME_SOURCES):
            frames.close()  # ends a video file's decoding pass (closes its container)
    _check_frames(set(prompts) | set(remove), seen)


def _object_prompts(prompts: Optional[PromptsLike]) -> Dict[int, Dict[int, InstanceData]]:
    """``{frame: {object id: prompt dict}}`` → ``{frame: {object id: one-object InstanceData}}``, frames in order."""
    if prompts is None:
        return {}
    if not isinstance(prompts, Mapping):
        raise VideoPromptError(f'prompts must be a dict {{frame index: {{object id: prompt}}}}; got a '
                               f'{type(prompts).__name__}')
    out = {}
    for t, objects in prompts.items():
        frame = _index(t, 'a frame index of prompts')
        if not isinstance(objects, Mapping):
            raise VideoPromptError(f'prompts[{t!r}] must be a dict {{object id: prompt}}; got a '
                                   f'{type(objects).__name__}')
        out[frame] = {_index(k, f'an object id of frame {frame}'): object_prompt(p, frame, int(k))
                      for k, p in objects.items()}
    return dict(sorted(out.items()))


def _removals(remove: Optional[Mapping[int, Sequence[int]]]) -> Dict[int, List[int]]:
    if remove is None:
        return {}
    if not isinstance(remove, Mapping):
        raise VideoPromptError(f'remove must be a dict {{frame index: [object ids]}}; got a {type(remove).__name__}')
    out = {}
    for t, ids in remove.items():
        frame = _index(t, 'a frame index of remove')
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise VideoPromptError(f'remove[{t!r}] must be a list of object ids; got {ids!r}')
        out[frame] = sorted({_index(i, f'an object id removed on frame {frame}') for i in ids})
    return out


def _index(value, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise VideoPromptError(f'{what} must be an int; got {value!r}')
    return int(value)


def _array(value, dtype, where: str, name: str, form: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise VideoPromptError(f'{where}: {name} must be {form}; got {value!r}') from None


def _check_removals(prompts: Dict[int, Dict[int, InstanceData]], remove: Dict[int, List[int]]) -> None:
    """Each removal names objects tracked on its frame: prompted on an earlier frame and not removed since."""
    alive = set()
    for t in sorted(set(prompts) | set(remove)):
        untracked = [i for i in remove.get(t, ()) if i not in alive]
        if untracked:
            raise VideoPromptError(f'remove on frame {t} names object(s) {untracked}, not tracked on that frame '
                                   f'(tracked: {sorted(alive)}); an object is tracked from the first frame that '
                                   'prompts it until it is removed')
        alive.difference_update(remove.get(t, ()))
        alive.update(prompts.get(t, {}))


def _check_frames(indices, length: int) -> None:
    beyond = sorted(t for t in indices if t < 0 or t >= length)
    if beyond:
        raise VideoPromptError(f'prompts or removals for frame(s) {beyond}, but the video has {length} frames '
                               f'(0..{length - 1}); move them to frames the video has')


def _check_objects(objects: Dict[int, InstanceData], t: int, size: Tuple[int, int]) -> None:
    for obj_id, prompt in objects.items():
        check_prompt(prompt, size, f'the prompt of object {obj_id} on frame {t}')


def _known_length(source) -> Optional[int]:
    """Frames in ``source`` when known without decoding: a frame source's count, or a list's / array's length."""
    if isinstance(source, _FRAME_SOURCES):
        return source.num_frames
    if isinstance(source, Sized):
        return len(source)
    return None


def _known_size(source, t: int) -> Optional[Tuple[int, int]]:
    """(H, W) of frame ``t`` when known without decoding, else None."""
    if isinstance(source, _FRAME_SOURCES):
        return tuple(source.size)
    if isinstance(source, (list, tuple, np.ndarray)) and 0 <= t < len(source):
        shape = np.shape(source[t])
        if len(shape) == 3:
            return tuple(shape[:2])
    return None


def _one_frame(model, rgb: np.ndarray, t: int, prompts: Optional[Dict[int, InstanceData]], remove, device,
               checked: bool) -> Tuple[List[int], np.ndarray]:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise FrameSourceError(f'frame {t} must be (H, W, 3) uint8 RGB; got {rgb.shape} {rgb.dtype}')
    height, width = rgb.shape[:2]
    if prompts and not checked:
        _check_objects(prompts, t, (height, width))
    sample = DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                         scale_factor=(1.0, 1.0), frame_id=t))
    bgr = torch.from_numpy(np.ascontiguousarray(rgb[..., ::-1].transpose(2, 0, 1)))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[bgr], data_samples=[sample]), False)
        frame = data['data_samples'][0]
        feats = model.extract_feat(data['inputs'])[0]
        if prompts:
            prompts = {k: p.to(device) for k, p in prompts.items()}
        ids, logits = model.stream_step(feats, frame, prompts, remove=remove)
    return ids, (logits > 0).cpu().numpy()
