"""Frame sources and frame writers: video files (PyAV), folders and zips of images, one frame at a time.

:func:`open_frames` gives a lazy source with ``num_frames``, ``size`` (H, W) and
``fps`` that decodes (H, W, 3) uint8 RGB frames on each iteration, and
``read(frame_ids)`` for some frames in any order; a :class:`VideoWriter` or
:class:`FolderWriter` takes such frames back.  Bad input raises
:class:`FrameSourceError` naming the file and the fix.

Image frames (folders and zips) are the files with an ``IMAGE_SUFFIXES``
suffix, hidden names (``.*``) skipped, decoded with OpenCV, in file-name order;
in a folder whose frame names are all numbers (``0.png, 1.png, ..., 10.png``) in
the numbers' order (:func:`sort_frame_names`).
"""
import os
import zipfile
from abc import ABC, abstractmethod
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import IO, Iterator, List, Optional, Sequence, Tuple, Union

import av
import cv2
import numpy as np
from PIL import Image

from .errors import InputError

#: Output containers PyAV writes, by suffix.
VIDEO_FORMATS = {'.mp4': 'mp4', '.mov': 'mov', '.mkv': 'matroska', '.avi': 'avi'}
#: Suffixes read as frames in a frame folder.
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
#: Encoder and constant rate factor of video output (17: visually lossless).
VIDEO_CODEC = 'libx264'
VIDEO_CRF = '17'

Size = Tuple[int, int]  # (H, W) px


class FrameSourceError(InputError):
    """A video, frame folder or frame zip is missing, unreadable, or changes frame size."""


def _is_frame_name(name: str) -> bool:
    """Whether a file (or zip entry) name is a frame image: an ``IMAGE_SUFFIXES`` suffix, not hidden."""
    path = PurePosixPath(name)
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith('.')


def numeric_stem(name: str) -> Optional[int]:
    """The frame number of a name such as ``00012.png`` or ``12.jpg`` (12); None when the stem is not all digits."""
    stem = PurePosixPath(name).stem
    return int(stem) if stem.isdigit() and stem.isascii() else None


def sort_frame_names(names: Sequence[str]) -> List[str]:
    """Frame names in playing order: by number when every stem is one (``2.png`` before ``10.png``), else by name."""
    if names and all(numeric_stem(name) is not None for name in names):
        return sorted(names, key=lambda name: (numeric_stem(name), name))
    return sorted(names)


def _bgr_to_rgb(image: Optional[np.ndarray], where: str) -> np.ndarray:
    """OpenCV's (H, W, 3) BGR decoding → RGB; None (undecodable) raises naming ``where``."""
    if image is None:
        raise FrameSourceError(f'{where} is not a decodable image: replace it with a valid JPEG/PNG frame')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class VideoFrames:
    """The frames of a video file, decoded lazily with PyAV; each iteration is a new pass.

    Args:
        path: any video PyAV (FFmpeg) can read.

    Attributes:
        num_frames: from the container's frame count, or a demux (no decoding) count when it has none.
        size: (H, W) of the first frame.
        fps: the stream's average frame rate, or None.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise FrameSourceError(f'{path} has no video stream')
                stream = container.streams.video[0]
                first = next(container.decode(stream), None)
                if first is None:
                    raise FrameSourceError(f'{path} holds no decodable video frame')
                self.size = (first.height, first.width)
                self.fps = stream.average_rate
                self.num_frames = stream.frames
            if self.num_frames <= 0:
                with av.open(str(path)) as container:
                    self.num_frames = sum(1 for packet in container.demux(video=0) if packet.size)
        except av.FFmpegError as err:
            raise FrameSourceError(f'cannot read video {path}: {err}; give a video FFmpeg can decode, or a '
                                    'folder of frame images') from None

    def __iter__(self) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames in order."""
        try:
            with av.open(str(self.path)) as container:
                for frame in container.decode(video=0):
                    image = frame.to_ndarray(format='rgb24')
                    if image.shape[:2] != self.size:
                        raise FrameSourceError(f'{self.path}: frame size changes from {self.size} to '
                                                f'{image.shape[:2]} mid-video')
                    yield image
        except av.FFmpegError as err:
            raise FrameSourceError(f'cannot decode video {self.path}: {err}') from None

    def read(self, frame_ids: Sequence[int]) -> List[np.ndarray]:
        """(H, W, 3) uint8 RGB frames at ``frame_ids`` (0-based, any order), decoded in one pass up to the last."""
        wanted = set(frame_ids)
        decoded = {}
        count = 0
        if wanted:
            for count, image in enumerate(self, start=1):
                if count - 1 in wanted:
                    decoded[count - 1] = image
                if count > max(wanted):
                    break
        missing = [i for i in frame_ids if i not in decoded]
        if missing:
            raise FrameSourceError(f'{self.path} ended after {count} frames but frames {missing[:5]} were asked for; '
                                    f'the container announced {self.num_frames}')
        return [decoded[i] for i in frame_ids]


class _ImageFrames(ABC):
    """Frames stored as one image file each (a folder or a zip): random access, every header checked at once.

    Subclasses set ``path`` and ``names`` (sorted frame names), give the three
    methods below, then call :meth:`_check_headers`.
    """

    path: Path
    names: List[str]

    @abstractmethod
    def _open(self, index: int) -> IO[bytes]:
        """Frame ``index``'s file, opened for binary reading."""

    @abstractmethod
    def _decode(self, index: int) -> Optional[np.ndarray]:
        """(H, W, 3) uint8 BGR frame ``index`` as OpenCV decodes it, or None."""

    @abstractmethod
    def _where(self, index: int) -> str:
        """Frame ``index`` named for error messages."""

    def _check_headers(self, unreadable: str) -> None:
        """Set ``size``, ``fps`` and ``num_frames`` from the headers; raise if there are none or sizes differ.

        Args:
            unreadable: message format for a header PIL cannot read, with ``{where}`` and ``{err}``.
        """
        if not self.names:
            raise FrameSourceError(f'{self.path} holds no frame images ({", ".join(IMAGE_SUFFIXES)})')
        sizes = {}
        for index in range(len(self.names)):
            try:
                with self._open(index) as file, Image.open(file) as image:
                    sizes.setdefault((image.height, image.width), PurePosixPath(self.names[index]).name)
            except OSError as err:
                raise FrameSourceError(unreadable.format(where=self._where(index), err=err)) from None
        if len(sizes) > 1:
            raise FrameSourceError(f'frames in {self.path} differ in size: ' +
                                    ', '.join(f'{h}x{w} ({name})' for (h, w), name in sizes.items()) +
                                    '; all frames of a video need one size')
        self.size = next(iter(sizes))
        self.fps = None
        self.num_frames = len(self.names)

    def __iter__(self) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames in order."""
        for index in range(self.num_frames):
            yield _bgr_to_rgb(self._decode(index), self._where(index))

    def read(self, frame_ids: Sequence[int]) -> List[np.ndarray]:
        """(H, W, 3) uint8 RGB frames at ``frame_ids`` (0-based, any order)."""
        bad = [i for i in frame_ids if not 0 <= i < self.num_frames]
        if bad:
            raise FrameSourceError(f'{self.path} holds {self.num_frames} frames but frames {bad[:5]} were asked for')
        return [_bgr_to_rgb(self._decode(i), self._where(i)) for i in frame_ids]


class FolderFrames(_ImageFrames):
    """Frames stored as image files in one folder, in playing order (:func:`sort_frame_names`), read lazily.

    Args:
        path: folder holding the frames (``IMAGE_SUFFIXES``); every header is checked here.
    """

    def __init__(self, path: Path):
        self.path = path
        self.names = sort_frame_names([p.name for p in path.iterdir() if _is_frame_name(p.name)])
        self.files = [path / name for name in self.names]
        self._check_headers('cannot read frame {where}: {err}')

    def _open(self, index: int) -> IO[bytes]:
        return open(self.files[index], 'rb')

    def _decode(self, index: int) -> Optional[np.ndarray]:
        return cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)

    def _where(self, index: int) -> str:
        return str(self.files[index])


class ZipFrames(_ImageFrames):
    """Frames stored as image files in a zip (E2FGVI's ``<video>.zip``), at any depth, in entry-name order.

    The zip stays open for reading, once per process: after a fork (data loader
    workers) it is opened again, since processes must not share its file offset,
    and it is not pickled.

    Args:
        path: the zip; it is opened and every frame header checked here.
    """

    def __init__(self, path: Path):
        self.path = path
        self._archive: Optional[zipfile.ZipFile] = None
        self._pid = None
        self.names = sorted(name for name in self._zip().namelist() if _is_frame_name(name))
        self._check_headers('{where} is not a decodable image ({err}): replace it with a valid JPEG/PNG frame')

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _archive=None, _pid=None)

    def _zip(self) -> zipfile.ZipFile:
        """The open zip of this process."""
        if self._archive is None or self._pid != os.getpid():
            try:
                self._archive = zipfile.ZipFile(self.path, 'r')
            except (zipfile.BadZipFile, OSError) as err:
                raise FrameSourceError(f'{self.path} is not a readable zip ({err}); re-create it with the frames at '
                                        'its root (e.g. `zip -j <vid>.zip <vid>/*.jpg`)') from None
            self._pid = os.getpid()
        return self._archive

    def _open(self, index: int) -> IO[bytes]:
        try:
            return self._zip().open(self.names[index])
        except (zipfile.BadZipFile, OSError) as err:
            raise FrameSourceError(f'{self.path} is corrupt ({err}); re-create the zip') from None

    def _decode(self, index: int) -> Optional[np.ndarray]:
        try:
            data = self._zip().read(self.names[index])
        except (zipfile.BadZipFile, OSError) as err:
            raise FrameSourceError(f'{self.path} is corrupt ({err}); re-create the zip') from None
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    def _where(self, index: int) -> str:
        return f'frame {self.names[index]} of {self.path}'


FrameSource = Union[VideoFrames, FolderFrames, ZipFrames]


def open_frames(source: Union[str, Path]) -> FrameSource:
    """A video file, a frame folder or a zip of frames as a lazy frame source; a missing or unreadable one raises."""
    path = Path(source)
    if path.is_dir():
        return FolderFrames(path)
    if not path.is_file():
        raise FrameSourceError(f'frames source {path} not found; give a video file, a folder of frames or a zip of '
                                'frames')
    if path.suffix.lower() == '.zip':
        return ZipFrames(path)
    return VideoFrames(path)


class VideoWriter:
    """Encodes RGB frames into a video file with PyAV (libx264; yuv444p when a side is odd).

    Args:
        path: file to write.
        container_format: FFmpeg format name (``VIDEO_FORMATS``).
        size: (H, W) of the frames.
        fps: frame rate.
    """

    def __init__(self, path: Path, container_format: str, size: Size, fps: Fraction):
        self.container = av.open(str(path), 'w', format=container_format)
        self.stream = self.container.add_stream(VIDEO_CODEC, rate=fps)
        codec = self.stream.codec_context
        codec.height, codec.width = size
        codec.pix_fmt = 'yuv420p' if size[0] % 2 == 0 and size[1] % 2 == 0 else 'yuv444p'
        codec.options = {'crf': VIDEO_CRF}
        self.closed = False

    def write(self, frame: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame."""
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')):
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()
        self.closed = True

    def abort(self) -> None:
        """Close without flushing, if still open (the file is discarded)."""
        if not self.closed:
            self.container.close()
            self.closed = True


class FolderWriter:
    """Writes RGB frames as ``00000.png, 00001.png, ...`` into a folder.

    Args:
        path: existing folder.
    """

    def __init__(self, path: Path):
        self.path = path
        self.count = 0

    def write(self, frame: np.ndarray) -> None:
        """Write one (H, W, 3) uint8 RGB frame."""
        file = self.path / f'{self.count:05d}.png'
        if not cv2.imwrite(str(file), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            raise OSError(f'could not write {file}')
        self.count += 1

    def close(self) -> None:
        """Nothing to finish."""

    def abort(self) -> None:
        """Nothing to release."""
