"""Frame sources and frame writers: video files (PyAV) and folders of images, one frame at a time.

:func:`open_frames` gives a lazy source with ``num_frames``, ``size`` (H, W) and
``fps`` that decodes (H, W, 3) uint8 RGB frames on each iteration; a
:class:`VideoWriter` or :class:`FolderWriter` takes such frames back.  Bad input
raises :class:`FrameSourceError` naming the file and the fix.
"""
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Tuple, Union

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
    """A video or frame folder is missing, unreadable, or changes frame size."""


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


class FolderFrames:
    """Frames stored as image files in one folder, in file-name order, read lazily with OpenCV.

    Args:
        path: folder holding the frames (``IMAGE_SUFFIXES``); every header is checked here.
    """

    def __init__(self, path: Path):
        self.path = path
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise FrameSourceError(f'{path} holds no frame images ({", ".join(IMAGE_SUFFIXES)})')
        sizes = {}
        for file in self.files:
            try:
                with Image.open(file) as image:
                    sizes.setdefault((image.height, image.width), file)
            except OSError as err:
                raise FrameSourceError(f'cannot read frame {file}: {err}') from None
        if len(sizes) > 1:
            raise FrameSourceError(f'frames in {path} differ in size: ' +
                                    ', '.join(f'{h}x{w} ({f.name})' for (h, w), f in sizes.items()))
        self.size = next(iter(sizes))
        self.fps = None
        self.num_frames = len(self.files)

    def __iter__(self) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames in order."""
        for file in self.files:
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise FrameSourceError(f'OpenCV cannot decode frame {file}')
            yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def open_frames(source: Union[str, Path]) -> Union[VideoFrames, FolderFrames]:
    """A video file or a frame folder as a lazy frame source; a missing or unreadable one raises."""
    path = Path(source)
    if path.is_dir():
        return FolderFrames(path)
    if not path.is_file():
        raise FrameSourceError(f'frames source {path} not found; give a video file or a folder of frames')
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
