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
from frame t on. Frames stream one at a time (a video file decoded lazily, a
folder, or any iterable of (H, W, 3) uint8 RGB arrays); memory is bounded by the
model's :class:`StreamingMemoryAdapter`.
"""
from contextlib import ExitStack
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Sized, Tuple, Union

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from seg.fileio.errors import InputError
from seg.fileio.frames import open_frames

FramesLike = Union[str, Path, Iterable[np.ndarray]]
PromptsLike = Mapping[int, Mapping[int, Mapping]]

#: Keys of one object's prompt.
PROMPT_KEYS = frozenset({'points', 'point_labels', 'boxes', 'mask', 'text'})


class VideoPromptError(InputError):
    """A prompt the video cannot take (unknown keys, a frame the video does not have, a bad shape)."""


def object_prompt(prompt: Mapping, frame_index: int, object_id: int) -> InstanceData:
    """One object's prompt (see the module docstring) → a one-object ``prompts`` InstanceData."""
    where = f'the prompt of object {object_id} on frame {frame_index}'
    unknown = set(prompt) - PROMPT_KEYS
    if unknown or not prompt:
        raise VideoPromptError(f'{where} has {"keys " + str(sorted(unknown)) if unknown else "nothing"}; a prompt '
                               f'holds any of {sorted(PROMPT_KEYS)}')
    out = InstanceData()
    if 'points' in prompt:
        points = torch.as_tensor(np.asarray(prompt['points'], dtype=np.float32)).reshape(1, -1, 2)
        labels = prompt.get('point_labels', [1] * points.shape[1])
        out.points = points
        out.point_labels = torch.as_tensor(np.asarray(labels, dtype=np.int64)).reshape(1, -1)
        if out.point_labels.shape[1] != points.shape[1]:
            raise VideoPromptError(f'{where}: {points.shape[1]} points but {out.point_labels.shape[1]} point_labels')
    elif 'point_labels' in prompt:
        raise VideoPromptError(f'{where}: point_labels without points')
    if 'boxes' in prompt:
        boxes = np.asarray(prompt['boxes'], dtype=np.float32)
        if boxes.size != 4:
            raise VideoPromptError(f'{where}: boxes must be one [x1, y1, x2, y2]; got shape {boxes.shape}')
        out.boxes = torch.as_tensor(boxes).reshape(1, 4)
    if 'mask' in prompt:
        mask = np.asarray(prompt['mask'])
        if mask.ndim != 2:
            raise VideoPromptError(f'{where}: mask must be (H, W); got shape {mask.shape}')
        out.masks = torch.as_tensor(mask.astype(bool))[None]
    if 'text' in prompt:
        out.texts = [str(prompt['text'])]
    return out


def segment_video(model: torch.nn.Module, frames: FramesLike, prompts: PromptsLike,
                  remove: Optional[Mapping[int, Sequence[int]]] = None
                  ) -> Iterator[Tuple[int, List[int], np.ndarray]]:
    """Yield ``(frame index, object ids, (K, H, W) bool masks)`` for every frame, in order.

    Args:
        model: a FastSAM2 in eval mode (``seg.apis.init_model``).
        frames: a video file, a frame folder, or (H, W, 3) uint8 RGB arrays.
        prompts: ``{frame index: {object id: prompt}}`` (see the module docstring).
        remove: ``{frame index: [object ids]}`` to stop tracking from that frame.

    Raises:
        VideoPromptError: a prompt names a frame the video does not have (checked
            before the first frame when the length is known, else at the end), or
            is malformed; prompt values themselves are checked by the model
            (:class:`PromptError`: points outside the frame, boxes with x2 < x1, ...).
    """
    if not hasattr(model, 'stream_step'):
        raise TypeError(f'segment_video needs a FastSAM2 model; got {type(model).__name__}')
    prompts = {int(t): {int(k): object_prompt(p, int(t), int(k)) for k, p in objs.items()}
               for t, objs in prompts.items()}
    remove = {int(t): list(ids) for t, ids in (remove or {}).items()}
    with ExitStack() as stack:
        source = frames
        if isinstance(frames, (str, Path)):
            source = stack.enter_context(open_frames(frames))
        if isinstance(source, Sized):
            _check_frames(set(prompts) | set(remove), len(source))
        device = next(model.parameters()).device
        model.memory.reset()
        seen = 0
        try:
            for t, rgb in enumerate(source):
                seen = t + 1
                ids, masks = _one_frame(model, rgb, t, prompts.get(t), remove.get(t, ()), device)
                yield t, ids, masks
        finally:
            model.memory.reset()
        _check_frames(set(prompts) | set(remove), seen)


def _check_frames(indices, length: int) -> None:
    beyond = sorted(t for t in indices if t < 0 or t >= length)
    if beyond:
        raise VideoPromptError(f'prompts or removals for frame(s) {beyond}, but the video has {length} frames '
                               f'(0..{length - 1}); move them to frames the video has')


def _one_frame(model, rgb: np.ndarray, t: int, prompts: Optional[Dict[int, InstanceData]], remove,
               device) -> Tuple[List[int], np.ndarray]:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise VideoPromptError(f'frame {t} must be (H, W, 3) uint8 RGB; got {rgb.shape} {rgb.dtype}')
    height, width = rgb.shape[:2]
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
