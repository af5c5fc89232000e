"""Preparing video inpainting datasets: resize every video to frame folders, precompute optical flows.

Both jobs take a root of videos — frame folders ``<root>/<vid>/*.jpg|png``,
video files ``<root>/<vid>.mp4`` (``.avi``, ``.mov``, ``.mkv``, ``.webm``,
``.m4v``) or frame zips ``<root>/<vid>.zip`` — and write one folder per video
under an output root:

* :func:`resize_videos`: ``<out>/<vid>/<stem>.jpg`` at one size (the official
  ProPainter / E2FGVI ``JPEGImages_432_240``), the frame files' stems kept
  (``00000``, ``00001``, ... for video files);
* :func:`compute_flows`: ``<out>/<vid>/<a>_<b>_f.flo`` and ``<b>_<a>_b.flo``
  for consecutive frames ``a, b`` (ProPainter's ``scripts/compute_flow.py``
  naming, :func:`~seg.fileio.flow_files.flow_pair_names`), ``.flo`` or ``.npy``,
  with RAFT from a local checkpoint or, without one, OpenCV's DIS flow.

Each video is written into a hidden temporary sibling folder renamed into place
when complete, so an interrupted run (SIGTERM included, under
:func:`~seg.fileio.atomic.sigterm_exits`) leaves finished videos and nothing
half-written; a rerun skips the videos whose output is complete and removes the
temporary folders of runs that were killed.
"""
import json
import os
import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from tqdm import tqdm

from seg.fileio.atomic import remove_stale_parts, temp_sibling
from seg.fileio.errors import InputError
from seg.fileio.flow_files import FLOW_DTYPES, flow_pair_names, write_flow
from seg.fileio.frames import FrameSource, VideoFrames, open_frames
from seg.models.flow import BidirectionalRAFT, load_raft
from seg.utils.optical_flow import DIS_PRESETS, dis_flow

__all__ = ['DatasetPreparationError', 'PreparationSummary', 'list_videos', 'read_video_names', 'resize_videos',
           'compute_flows', 'RESIZE_INTERPOLATIONS', 'VIDEO_FILE_SUFFIXES']

PathLike = Union[str, Path]
Size = Tuple[int, int]  # (w, h) px

#: Video files read as videos (besides frame folders and ``.zip`` frame archives).
VIDEO_FILE_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v')
#: OpenCV interpolations :func:`resize_videos` offers (``area`` suits shrinking).
RESIZE_INTERPOLATIONS = {'area': cv2.INTER_AREA, 'linear': cv2.INTER_LINEAR, 'cubic': cv2.INTER_CUBIC}
#: RAFT refinement iterations of the official ``scripts/compute_flow.py``.
RAFT_ITERS = 20
#: Frames per RAFT call (consecutive windows overlap by one frame): bounds the memory a long video takes.
RAFT_WINDOW = 12


class DatasetPreparationError(InputError):
    """A video root, video selection or preparation setting is unusable (the message says what to change)."""


@dataclass
class PreparationSummary:
    """What a preparation run did: the videos written now and those already complete."""

    written: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)


def list_videos(root: PathLike) -> Dict[str, Path]:
    """The videos under ``root``: ``{name: source}`` sorted by name.

    A source is a sub-folder (of frame images), a video file (:data:`VIDEO_FILE_SUFFIXES`)
    or a ``.zip`` of frames; hidden entries are skipped.

    Raises:
        DatasetPreparationError: ``root`` is no folder, holds no video, or two sources share a name.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetPreparationError(f'video root {root} is not a folder; give the folder holding one frame folder '
                                      'or video file per video')
    videos: Dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith('.'):
            continue
        if entry.is_dir():
            name = entry.name
        elif entry.suffix.lower() in VIDEO_FILE_SUFFIXES + ('.zip',):
            name = entry.stem
        else:
            continue
        if name in videos:
            raise DatasetPreparationError(f'{videos[name]} and {entry} are both video {name!r}; keep one of them')
        videos[name] = entry
    if not videos:
        raise DatasetPreparationError(f'no videos in {root}: expected <vid>/ frame folders, <vid>.zip or video files '
                                      f'({", ".join(VIDEO_FILE_SUFFIXES)})')
    return videos


def read_video_names(ann_file: PathLike) -> List[str]:
    """The video names of a ``{vid: num_frames}`` annotation json (``train.json``, ``test.json``), in file order.

    Raises:
        DatasetPreparationError: The file is missing, not json, or not such an object.
    """
    try:
        with open(ann_file, encoding='utf-8') as file:
            counts = json.load(file)
    except FileNotFoundError:
        raise DatasetPreparationError(f'annotation file {ann_file} does not exist') from None
    except ValueError as err:
        raise DatasetPreparationError(f'{ann_file} is not valid json ({err})') from None
    if not isinstance(counts, dict):
        raise DatasetPreparationError(f'{ann_file} must hold a {{vid: num_frames}} object, got '
                                      f'{type(counts).__name__}')
    return list(counts)


def _select(videos: Dict[str, Path], names: Optional[Sequence[str]], root: PathLike) -> Dict[str, Path]:
    if names is None:
        return videos
    missing = [n for n in names if n not in videos]
    if missing:
        raise DatasetPreparationError(f'videos {missing[:5]} are not in {root} ({len(missing)} missing); add them or '
                                      'leave them out of the selection')
    return {n: videos[n] for n in names}


def _frame_stems(source: FrameSource) -> List[str]:
    """File stems of the frames in playing order (``00000``.. for a video file)."""
    if isinstance(source, VideoFrames):
        return [f'{i:05d}' for i in range(source.num_frames)]
    return [PurePosixPath(name).stem for name in source.names]


def _check_size(size: Optional[Size], what: str) -> Optional[Size]:
    if size is None:
        return None
    if len(size) != 2 or min(size) < 1:
        raise DatasetPreparationError(f'{what} must be (width, height) in px, got {size}')
    return int(size[0]), int(size[1])


def _write_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Fill a fresh temporary sibling of ``target``, then rename it over ``target`` (replacing an existing folder).

    On an exception the temporary folder is removed and ``target`` stays as it was.
    """
    tmp = temp_sibling(target)
    tmp.mkdir()
    old = None
    try:
        fill(tmp)
        if target.is_dir():  # an incomplete folder someone else left: moved aside, removed once replaced
            old = temp_sibling(target)
            os.rename(target, old)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _run_per_video(videos: Dict[str, Path], out_root: Path, expected: Callable[[FrameSource], List[str]],
                   write: Callable[[str, FrameSource, Path], None], desc: str, progress: bool) -> PreparationSummary:
    """For each video, write its output folder atomically unless it already holds ``expected(source)``.

    Args:
        videos: ``{name: source path}``.
        out_root: Root of the output folders (created).
        expected: The file names a complete output folder of the source holds.
        write: ``write(name, source, folder)`` fills the fresh folder ``folder``.
        desc: Progress bar label.
        progress: Show a tqdm progress bar.
    """
    out_root.mkdir(parents=True, exist_ok=True)
    summary = PreparationSummary()
    for name, path in tqdm(videos.items(), desc=desc, unit='video', disable=not progress):
        target = out_root / name
        remove_stale_parts(target)
        source = open_frames(path)
        wanted = expected(source)
        if target.is_dir() and set(wanted) <= {p.name for p in target.iterdir()}:
            summary.skipped.append(name)
            continue
        if target.exists() and not target.is_dir():
            raise DatasetPreparationError(f'{target} is a file where the output folder of video {name!r} goes; '
                                          'move it away')
        _write_folder(target, partial(write, name, source))
        summary.written.append(name)
    return summary


def resize_videos(src_root: PathLike, out_root: PathLike, size: Size = (432, 240),
                  videos: Optional[Sequence[str]] = None, quality: int = 95, interpolation: str = 'area',
                  progress: bool = False) -> PreparationSummary:
    """Write every video of ``src_root`` as a folder of ``size`` JPEG frames under ``out_root``.

    Args:
        src_root: Root of the videos (see :func:`list_videos`).
        out_root: Output root: ``<out_root>/<vid>/<stem>.jpg`` (stems of the source frame
            files; ``00000``.. for video files).
        size: Output (width, height) in px (the official 432x240).
        videos: Names of the videos to resize (e.g. the keys of ``train.json``); None: all.
        quality: JPEG quality (OpenCV's scale, 0..100).
        interpolation: ``'area'`` (default; averages when shrinking), ``'linear'`` or ``'cubic'``.
        progress: Show a progress bar over the videos.

    Returns:
        The videos written and those skipped as already complete.

    Raises:
        DatasetPreparationError: Bad root, selection or setting.
        FrameSourceError: A video or frame cannot be read.
    """
    size = _check_size(size, 'size')
    if interpolation not in RESIZE_INTERPOLATIONS:
        raise DatasetPreparationError(f'interpolation must be one of {sorted(RESIZE_INTERPOLATIONS)}, got '
                                      f'{interpolation!r}')
    if not 0 <= quality <= 100:
        raise DatasetPreparationError(f'JPEG quality must be in 0..100, got {quality}')
    selected = _select(list_videos(src_root), videos, src_root)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]

    def expected(source: FrameSource) -> List[str]:
        return [f'{stem}.jpg' for stem in _frame_stems(source)]

    def write(name: str, source: FrameSource, folder: Path) -> None:
        for file_name, frame in zip(expected(source), source):
            if (frame.shape[1], frame.shape[0]) != size:
                frame = cv2.resize(frame, size, interpolation=RESIZE_INTERPOLATIONS[interpolation])
            ok, data = cv2.imencode('.jpg', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
            if not ok:
                raise OSError(f'JPEG encoding of {name}/{file_name} failed')
            (folder / file_name).write_bytes(data.tobytes())

    return _run_per_video(selected, Path(out_root), expected, write, 'resizing', progress)


def _raft_flow_net(checkpoint: PathLike, iters: int, device: Union[str, torch.device]) -> torch.nn.Module:
    """BidirectionalRAFT around the RAFT of a local checkpoint (loaded strictly), in eval mode on ``device``."""
    return BidirectionalRAFT(raft=load_raft(checkpoint), iters=iters).to(device).eval()


def _windows(num_frames: int, window: int) -> List[Tuple[int, int]]:
    """[start, stop) frame ranges of ``window`` frames covering every consecutive pair once (overlap: one frame)."""
    return [(start, min(start + window, num_frames)) for start in range(0, num_frames - 1, window - 1)]


def compute_flows(frame_root: PathLike, out_root: PathLike, raft_checkpoint: Optional[PathLike] = None,
                  videos: Optional[Sequence[str]] = None, flow_format: str = 'flo', dtype: str = 'float16',
                  size: Optional[Size] = None, iters: int = RAFT_ITERS, dis_preset: str = 'medium',
                  device: Union[str, torch.device] = 'cpu', progress: bool = False) -> PreparationSummary:
    """Write the forward and backward flows of consecutive frames of every video under ``out_root``.

    Args:
        frame_root: Root of the videos (see :func:`list_videos`), e.g. ``<data_root>/JPEGImages_432_240``.
        out_root: Output root: ``<out_root>/<vid>/<a>_<b>_f.<fmt>`` (flow from frame ``a`` to the
            next frame ``b``, on ``a``'s grid) and ``<b>_<a>_b.<fmt>`` (from ``b`` to ``a``).
        raft_checkpoint: Local RAFT weights (e.g. ``checkpoints/propainter/raft-things.pth``);
            None computes OpenCV's DIS flow instead (no weights; coarser).
        videos: Names of the videos to process; None: all.
        flow_format: ``'flo'`` or ``'npy'``.
        dtype: ``'float16'`` (what ProPainter's reader expects; half the disk) or ``'float32'``
            (standard Middlebury ``.flo``).
        size: (width, height) in px to compute the flows at (the frames are resized bilinearly
            first, as the official script does); None: the frames' own size.
        iters: RAFT refinement iterations (official 20).
        dis_preset: DIS preset without RAFT (:data:`~seg.utils.optical_flow.DIS_PRESETS`).
        device: Where RAFT runs.
        progress: Show a progress bar over the videos.

    Returns:
        The videos written and those skipped as already complete.

    Raises:
        DatasetPreparationError: Bad root, selection or setting.
        FrameSourceError: A video or frame cannot be read.
        InputError: The RAFT checkpoint is missing or of another model.
    """
    size = _check_size(size, 'size')
    if flow_format not in ('flo', 'npy'):
        raise DatasetPreparationError(f'flow format must be flo or npy, got {flow_format!r}')
    if dtype not in FLOW_DTYPES:
        raise DatasetPreparationError(f'flow dtype must be one of {FLOW_DTYPES}, got {dtype!r}')
    if dis_preset not in DIS_PRESETS:
        raise DatasetPreparationError(f'DIS preset must be one of {sorted(DIS_PRESETS)}, got {dis_preset!r}')
    if iters < 1:
        raise DatasetPreparationError(f'RAFT iterations must be >= 1, got {iters}')
    selected = _select(list_videos(frame_root), videos, frame_root)
    suffix = f'.{flow_format}'
    flow_net = None if raft_checkpoint is None else _raft_flow_net(raft_checkpoint, iters, device)

    def pair_names(source: FrameSource) -> List[Tuple[str, str]]:
        stems = _frame_stems(source)
        return [flow_pair_names(a, b, suffix) for a, b in zip(stems[:-1], stems[1:])]

    def expected(source: FrameSource) -> List[str]:
        return [name for pair in pair_names(source) for name in pair]

    def resized(frame: np.ndarray) -> np.ndarray:
        if size is None or (frame.shape[1], frame.shape[0]) == size:
            return frame
        return cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)

    def write(name: str, source: FrameSource, folder: Path) -> None:
        names = pair_names(source)
        if flow_net is None:
            previous = None
            for index, frame in enumerate(source):
                frame = resized(frame)
                if previous is not None:
                    forward_name, backward_name = names[index - 1]
                    write_flow(folder / forward_name, dis_flow(previous, frame, dis_preset), dtype)
                    write_flow(folder / backward_name, dis_flow(frame, previous, dis_preset), dtype)
                previous = frame
            return
        for start, stop in _windows(source.num_frames, RAFT_WINDOW):
            frames = np.stack([resized(f) for f in source.read(range(start, stop))])
            clip = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1)[None]
            with torch.no_grad():
                flows_forward, flows_backward = flow_net(clip)
            for offset in range(stop - start - 1):
                forward_name, backward_name = names[start + offset]
                write_flow(folder / forward_name, flows_forward[0, offset].permute(1, 2, 0).cpu().numpy(), dtype)
                write_flow(folder / backward_name, flows_backward[0, offset].permute(1, 2, 0).cpu().numpy(), dtype)

    return _run_per_video(selected, Path(out_root), expected, write, 'flows', progress)
