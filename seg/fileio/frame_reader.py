"""Random access to the frames of a video, a frame folder or a zip, without holding the video: :class:`FrameReader`.

A video file is read through one open PyAV container: a frame at most
``FORWARD_DECODE`` frames after the last one read is decoded forward; any other
is reached by seeking to the key frame before it (by timestamp, the stream's
frame rate giving each frame's time) and decoding from there. The last
``cache_size`` frames read are kept (an LRU cache), so scrubbing back and forth
over a few frames decodes nothing.
"""
import threading
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import av
import numpy as np

from .frames import FrameSource, FrameSourceError, VideoFrames, open_frames

#: A frame this many frames or fewer after the last one read is decoded forward rather than sought.
FORWARD_DECODE = 48
#: Frames kept by default.
DEFAULT_CACHE_SIZE = 8


class FrameReader:
    """Frames of ``source`` by index, decoded on demand; thread-safe.

    Args:
        source: a video file, a frame folder or a zip of frames (:func:`~seg.fileio.frames.open_frames`).
        cache_size: frames kept (least recently used dropped first).

    Attributes:
        source: the lazy frame source (``num_frames``, ``size`` (H, W), ``fps`` or None).
    """

    def __init__(self, source: Union[str, Path], cache_size: int = DEFAULT_CACHE_SIZE):
        self.source: FrameSource = open_frames(source)
        self.cache_size = cache_size
        self._cache: 'OrderedDict[int, np.ndarray]' = OrderedDict()
        self._lock = threading.Lock()
        self._container = None
        self._decoded: Optional[Iterator[av.VideoFrame]] = None
        self._next = 0  # index of the frame ``_decoded`` yields next
        self._counting = False  # frames are indexed by counting from the start (no usable timestamps)
        self._count = -1

    @property
    def num_frames(self) -> int:
        return self.source.num_frames

    @property
    def size(self) -> Tuple[int, int]:
        return tuple(self.source.size)

    @property
    def fps(self) -> Optional[Fraction]:
        return self.source.fps

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based), (H, W, 3) uint8 RGB; read-only (it may be shared with the cache).

        Raises:
            FrameSourceError: the index is out of range, or the frame cannot be decoded.
        """
        if not 0 <= index < self.num_frames:
            raise FrameSourceError(f'frame {index} asked for, but the video has {self.num_frames} frames '
                                   f'(0..{self.num_frames - 1})')
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            if isinstance(self.source, VideoFrames):
                frame = self._decode(index)
            else:
                frame = self.source.read([index])[0]
            frame.setflags(write=False)
            self._cache[index] = frame
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return frame

    def close(self) -> None:
        """Close the open video container (a later read opens it again)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container, self._decoded, self._next = None, None, 0

    def _decode(self, index: int) -> np.ndarray:
        """Frame ``index`` of the video, decoded forward or after a seek."""
        try:
            if self._container is None or not self._next <= index <= self._next + FORWARD_DECODE:
                self._seek(index)
            while True:
                frame = next(self._decoded, None)
                if frame is None:
                    raise FrameSourceError(f'{self.source.path} ended before frame {index}; its container announced '
                                           f'{self.num_frames} frames')
                position = self._index_of(frame)
                if position is None:  # no timestamp: count from the start instead
                    self._seek(index, from_start=True)
                    continue
                self._next = position + 1
                if position == index:
                    image = frame.to_ndarray(format='rgb24')
                    if image.shape[:2] != self.size:
                        raise FrameSourceError(f'{self.source.path}: frame size changes from {self.size} to '
                                               f'{image.shape[:2]} mid-video')
                    return image
                if position > index:  # the seek landed past it (timestamps disagree with the frame rate)
                    self._seek(index, from_start=True)
        except av.FFmpegError as err:
            self._close()
            raise FrameSourceError(f'cannot decode frame {index} of {self.source.path}: {err}') from None

    def _seek(self, index: int, from_start: bool = False) -> None:
        """Position the decoder before frame ``index``: at the key frame before it, or at the start (counting)."""
        if from_start or not self.fps:
            self._close()
        if self._container is None:
            self._container = av.open(str(self.source.path))
        stream = self._container.streams.video[0]
        self._counting = from_start or not self.fps
        self._count = -1
        if not self._counting:
            pts = (stream.start_time or 0) + int(Fraction(index) / Fraction(self.fps) / stream.time_base)
            self._container.seek(pts, stream=stream, backward=True, any_frame=False)
        self._decoded = self._container.decode(stream)

    def _index_of(self, frame: av.VideoFrame) -> Optional[int]:
        """The index of a decoded frame: counted from the start, or from its timestamp (None without one)."""
        if self._counting:
            self._count += 1
            return self._count
        if frame.pts is None:
            return None
        stream = self._container.streams.video[0]
        return int(round(float((frame.pts - (stream.start_time or 0)) * stream.time_base * Fraction(self.fps))))
