"""Segment, track and remove one object from clicks and boxes, in one call: what ``tools/remove_object.py`` and
``tools/track.py --point/--box`` run.

::

    from seg.apis.remove_object import remove_object
    remove_object('bikes.mp4', points=[(0, 330, 40)], out_masks='out/', out_video='out/removed.mp4',
                  preview='out/preview.png')

Prompts are given per frame as tuples: a click ``(frame, x, y)`` (positive, or
negative), a box ``(frame, x1, y1, x2, y2)``, in pixels. They all belong to one
object (id 1): the earliest prompted frame seeds it, later ones correct it; it
is tracked forward from the first prompted frame and, when that is not frame 0,
back to frame 0 too (:class:`~seg.apis.video_session.VideoSession` does the work).
"""
import argparse
import math
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from tqdm import tqdm

from seg.fileio.atomic import atomic_write_bytes, check_writable
from seg.fileio.frame_reader import FrameReader
from seg.fileio.frames import IMAGE_SUFFIXES, VIDEO_FORMATS
from seg.fileio.palette import davis_palette
from seg.models.trackers import XMemTracker
from seg.visualization.overlay import overlay_masks, side_by_side

from .video_session import EXPORT_FORMATS, OVERLAY_ALPHA, VideoSession, VideoSessionError

PathLike = Union[str, Path]
Click = Tuple[int, float, float]  # (frame, x, y) px
Box = Tuple[int, float, float, float, float]  # (frame, x1, y1, x2, y2) px
#: The id of the one object these tools track.
OBJECT_ID = 1


def numbers(count: int, form: str):
    """An argparse type: ``count`` comma-separated numbers, the first a frame index."""
    def parse(text: str) -> Tuple[float, ...]:
        parts = text.split(',')
        try:
            values = tuple(float(p) for p in parts)
        except ValueError:
            values = ()
        if len(values) != count or not all(map(math.isfinite, values)) or values[0] != int(values[0]) or \
                values[0] < 0:
            raise argparse.ArgumentTypeError(f'{text!r} is not {form} (frame index from 0, pixels)')
        return (int(values[0]), ) + values[1:]
    return parse


def add_prompt_arguments(parser: argparse.ArgumentParser) -> None:
    """--point, --negative and --box (tools/remove_object.py, tools/track.py)."""
    parser.add_argument('--point', action='append', default=[], type=numbers(3, 'F,X,Y'), metavar='F,X,Y',
                        help='a positive click at pixel (X, Y) of frame F; repeat for more')
    parser.add_argument('--negative', action='append', default=[], type=numbers(3, 'F,X,Y'), metavar='F,X,Y',
                        help='a negative click (not the object); repeat for more')
    parser.add_argument('--box', action='append', default=[], type=numbers(5, 'F,X1,Y1,X2,Y2'),
                        metavar='F,X1,Y1,X2,Y2', help='a box around the object on frame F (one per frame)')


def prompts_by_frame(points: Sequence[Click] = (), negatives: Sequence[Click] = (),
                     boxes: Sequence[Box] = ()) -> Dict[int, dict]:
    """``{frame: dict(points, labels, box)}`` (keys present when given) of clicks and boxes, frames ascending.

    Raises:
        VideoSessionError: no positive click and no box, two boxes on one frame, or a frame index
            that is no whole number >= 0.
    """
    if not points and not boxes:
        raise VideoSessionError('give at least one positive click (--point F,X,Y) or a box (--box F,X1,Y1,X2,Y2)')
    prompts: Dict[int, dict] = {}
    for clicks, label in ((points, 1), (negatives, 0)):
        for frame, x, y in clicks:
            prompt = prompts.setdefault(_frame(frame), dict(points=[], labels=[]))
            prompt['points'].append((x, y))
            prompt['labels'].append(label)
    for frame, *box in boxes:
        prompt = prompts.setdefault(_frame(frame), dict(points=[], labels=[]))
        if 'box' in prompt:
            raise VideoSessionError(f'two boxes on frame {frame}; give one box per frame')
        prompt['box'] = tuple(box)
    for prompt in prompts.values():
        if not prompt['points']:
            del prompt['points'], prompt['labels']
    return dict(sorted(prompts.items()))


def _frame(value) -> int:
    if float(value) != int(float(value)) or int(float(value)) < 0:
        raise VideoSessionError(f'a frame index must be a whole number >= 0; got {value!r}')
    return int(float(value))


def _bar(desc: str, enabled: bool):
    """A tqdm bar and the ``(done, total)`` callback that advances it."""
    bar = tqdm(desc=desc, unit='frame', disable=not enabled)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    return bar, update


def segment_and_track(session: VideoSession, prompts: Dict[int, dict], progress: bool = True) -> None:
    """Prompt object 1 on each frame of ``prompts`` (the first seeds it, the others correct it), then track it
    forward from the first prompted frame and back from there to frame 0."""
    for index, (frame, prompt) in enumerate(prompts.items()):
        (session.add_prompt if index == 0 else session.correct)(frame, OBJECT_ID, **prompt)
    first = next(iter(prompts))
    bar, update = _bar('track', progress)
    with bar:
        for _ in session.propagate(start=first, progress=update):
            pass
    if first > 0:
        bar, update = _bar('track back', progress)
        with bar:
            for _ in session.propagate(start=first, reverse=True, progress=update):
                pass


def _check_new(path: Optional[Path], what: str, suffixes: Sequence[str]) -> None:
    """Refuse an output that exists, has the wrong suffix or sits in a folder that cannot be written."""
    if path is None:
        return
    if path.exists() or path.is_symlink():
        raise VideoSessionError(f'{path} exists; choose a new {what}')
    if suffixes and path.suffix.lower() not in suffixes:
        raise VideoSessionError(f'the {what} must end in one of {sorted(suffixes)}; got {path.name}')
    try:
        check_writable(path)
    except OSError as err:
        raise VideoSessionError(f'cannot write {path}: {err.strerror}; choose a folder you can write') from None


def write_preview(session: VideoSession, path: PathLike, result: Optional[PathLike] = None) -> Path:
    """A side-by-side picture of the frame where object 1 is largest: its mask overlay, and the same frame of
    ``result`` (the video with the object removed) or, without one, the plain frame first."""
    areas = {t: int(session.masks(t).get(OBJECT_ID, np.zeros(1)).sum()) for t in range(session.num_frames)}
    t = max(areas, key=lambda i: (areas[i], -i))
    frame = session.frame(t)
    mask = session.masks(t).get(OBJECT_ID, np.zeros(session.size, bool))
    overlay = overlay_masks(frame, mask[None], OVERLAY_ALPHA, colours=davis_palette()[[OBJECT_ID]])
    if result is None:
        picture = side_by_side(frame, overlay)
    else:
        removed = FrameReader(result)
        picture = side_by_side(overlay, removed[t])
        removed.close()
    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VideoSessionError(f'cannot encode the preview as {path.suffix}')
    atomic_write_bytes(encoded.tobytes(), path)
    return path


def remove_object(video: PathLike, points: Sequence[Click] = (), negatives: Sequence[Click] = (),
                  boxes: Sequence[Box] = (), out_masks: Optional[PathLike] = None,
                  out_video: Optional[PathLike] = None, preview: Optional[PathLike] = None,
                  checkpoints: PathLike = 'checkpoints', device: str = 'cpu', work_dir: Optional[PathLike] = None,
                  progress: bool = True) -> Dict[str, Path]:
    """Segment the prompted object, track it through the video, write its masks and/or the video without it.

    Args:
        video: a video file, a frame folder or a zip of frames.
        points, negatives, boxes: prompts (see the module docstring).
        out_masks: folder for the masks: ``masks/00000.png, ...`` (palette PNGs, object id 1) and
            ``masks_coco_rle.json`` (see :class:`VideoSession`'s export); those must not exist.
        out_video: the video with the object removed (``.mp4``, ``.mov``, ``.mkv``, ``.avi``; must not exist).
        preview: an image file for a side-by-side picture (:func:`write_preview`).
        checkpoints: folder searched for weights (the backends are chosen by what is there).
        device: where networks run.
        work_dir: folder for temporary files.
        progress: show a progress bar per stage.

    Returns:
        {'masks': folder, 'coco_rle': json, 'video': file, 'preview': image} for what was written.

    Raises:
        VideoSessionError: no output asked for, an output that exists or cannot be written, or any bad
            prompt or video (see :class:`VideoSession`). InpaintInputError: what the inpainter refuses.
    """
    if out_masks is None and out_video is None and preview is None:
        raise VideoSessionError('nothing to write: give --out-masks DIR, --out-video OUT.mp4 and/or --preview PNG')
    out_masks = None if out_masks is None else Path(out_masks)
    out_video = None if out_video is None else Path(out_video)
    preview = None if preview is None else Path(preview)
    if out_masks is not None:
        for name in ('png', 'coco_rle'):
            _check_new(out_masks / EXPORT_FORMATS[name], 'mask output', ())
    _check_new(out_video, 'output video', tuple(VIDEO_FORMATS))
    _check_new(preview, 'preview', IMAGE_SUFFIXES)
    prompts = prompts_by_frame(points, negatives, boxes)
    session = VideoSession(video, device=device, checkpoints=checkpoints, work_dir=work_dir)
    segment_and_track(session, prompts, progress)
    written = {}
    if out_masks is not None:
        bar, update = _bar('export masks', progress)
        with bar:
            paths = session.export(out_masks, formats=('png', 'coco_rle'), progress=update)
        written.update(masks=paths['png'], coco_rle=paths['coco_rle'])
    if out_video is not None:
        written['video'] = session.inpaint([OBJECT_ID], out_video, progress=progress)
    if preview is not None:
        written['preview'] = write_preview(session, preview, out_video)
    return written


def track_from_prompts(video: PathLike, out: PathLike, points: Sequence[Click] = (),
                       negatives: Sequence[Click] = (), boxes: Sequence[Box] = (), overlay: Optional[PathLike] = None,
                       checkpoints: PathLike = 'checkpoints', xmem_checkpoint: Optional[PathLike] = None,
                       device: str = 'cpu', progress: bool = True) -> Path:
    """Segment the prompted object, track it and write ``out/00000.png, ...`` (palette PNGs, object id 1) and an
    optional overlay video; all or nothing. ``xmem_checkpoint`` picks XMem as the tracker whatever
    ``checkpoints`` holds.

    Raises:
        VideoSessionError: ``out`` or ``overlay`` exists, ``overlay`` is no video name, or any bad prompt or video.
    """
    out = Path(out)
    _check_new(out, 'output folder', ())
    _check_new(None if overlay is None else Path(overlay), 'overlay file', ('.mp4', ))
    prompts = prompts_by_frame(points, negatives, boxes)
    tracker = None if xmem_checkpoint is None else XMemTracker(checkpoint=xmem_checkpoint, device=device)
    session = VideoSession(video, tracker=tracker, device=device, checkpoints=checkpoints)
    segment_and_track(session, prompts, progress)
    formats, names = ['png'], dict(png=out.resolve())
    if overlay is not None:
        formats.append('overlay_mp4')
        names['overlay_mp4'] = Path(overlay).resolve()
    bar, update = _bar('write masks', progress)
    with bar:
        session.export(out.resolve().parent, formats=formats, progress=update, names=names)
    return out
