"""Which frames each sliding window of E2FGVI's whole-video inference sees.

The official ``evaluate.py`` / ``test.py`` complete a video window by window:
windows start at ``f = 0, s, 2s, ...`` (``s`` = neighbour stride, 5); a window's
local (neighbour) frames are ``max(0, f - s) .. min(L - 1, f + s)`` and its
reference frames are every ``ref_stride``-th frame (10) of the whole video that
is not local. ``test.py`` can instead take ``num_ref`` references around ``f``.
Frame indices are 0-based positions in the video.

:func:`sliding_windows` yields the windows in order and :class:`WindowBlender`
merges their predictions as the official scripts do (a frame's first
prediction, then ``0.5 * previous + 0.5 * new`` for each later window) and
hands each frame out once no later window predicts it. The whole-video
evaluation (``VideoInpaintingGAN``) and the streaming API
(:func:`seg.apis.inpaint_video`) both complete videos with these two.
"""
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

#: Official ``evaluate.py`` / ``test.py`` defaults.
DEFAULT_NEIGHBOR_STRIDE = 5
DEFAULT_REF_STRIDE = 10
#: ``num_ref`` meaning "every ref_stride-th frame of the video" (the official default).
ALL_REFERENCES = -1


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f'{name} must be >= 1, got {value}')


def check_window_inputs(frames, masks, num_local_frames: int) -> None:
    """Refuse a window that an inpainter's ``inpaint_window`` cannot complete.

    Args:
        frames: (T, 3, H, W) tensor; the first ``num_local_frames`` are local frames.
        masks: (T, 1, H, W) tensor.
        num_local_frames: n, which must be in 1..T.

    Raises:
        ValueError: naming the shapes or ``num_local_frames`` that do not fit.
    """
    if frames.dim() != 4 or frames.shape[1] != 3 or masks.shape != (frames.shape[0], 1, *frames.shape[2:]):
        raise ValueError(f'expected frames (T, 3, H, W) and masks (T, 1, H, W), got {tuple(frames.shape)} '
                         f'and {tuple(masks.shape)}')
    if not 1 <= num_local_frames <= frames.shape[0]:
        raise ValueError(f'num_local_frames must be in 1..{frames.shape[0]}, got {num_local_frames}')


def window_starts(num_frames: int, neighbor_stride: int = DEFAULT_NEIGHBOR_STRIDE) -> List[int]:
    """Centres of the windows that cover a video: ``0, s, 2s, ... < num_frames``.

    Args:
        num_frames: L, frames in the video (>= 1).
        neighbor_stride: s, frames between window centres.

    Returns:
        list[int]: window centres, ascending.
    """
    _check_positive('num_frames', num_frames)
    _check_positive('neighbor_stride', neighbor_stride)
    return list(range(0, num_frames, neighbor_stride))


def neighbor_ids(center: int, num_frames: int, neighbor_stride: int = DEFAULT_NEIGHBOR_STRIDE) -> List[int]:
    """Local frames of the window at ``center``: ``max(0, f - s) .. min(L - 1, f + s)``.

    Args:
        center: f, the window centre (0 <= f < L).
        num_frames: L, frames in the video.
        neighbor_stride: s.

    Returns:
        list[int]: consecutive frame indices, ascending (at most 2s + 1).
    """
    _check_positive('neighbor_stride', neighbor_stride)
    if not 0 <= center < num_frames:
        raise ValueError(f'window centre {center} is outside the video of {num_frames} frames')
    return list(range(max(0, center - neighbor_stride), min(num_frames, center + neighbor_stride + 1)))


def reference_ids(neighbors: Sequence[int], num_frames: int, ref_stride: int = DEFAULT_REF_STRIDE,
                  num_ref: int = ALL_REFERENCES, center: Optional[int] = None,
                  ref_radius: Optional[int] = None) -> List[int]:
    """Reference frames of a window, as the official scripts pick them.

    ``num_ref == -1`` (``evaluate.py`` and ``test.py``'s default): every frame
    ``0, r, 2r, ...`` of the video that is not a local frame. ``num_ref >= 1``
    (``test.py --num_ref``): the non-local frames ``f - r·(n // 2), ..., f + r·(n // 2)``
    in steps of r, stopping once more than ``num_ref`` are held (so up to
    ``num_ref + 1``, as the official loop does). Unlike the official loop, an
    index past the last frame is never produced. ``ref_radius`` (not official)
    further keeps only frames within that many frames of ``center``, so a
    streaming reader needs to hold only a bounded range of the video.

    Args:
        neighbors: the window's local frames (:func:`neighbor_ids`).
        num_frames: L, frames in the video.
        ref_stride: r, frames between references.
        num_ref: -1, or the number of references around ``center``.
        center: f, the window centre; needed when ``num_ref >= 1`` or ``ref_radius`` is given.
        ref_radius: None (the whole video, official), or the largest ``|i - f|`` kept.

    Returns:
        list[int]: frame indices, ascending.
    """
    _check_positive('ref_stride', ref_stride)
    local = set(neighbors)
    if center is None and (num_ref != ALL_REFERENCES or ref_radius is not None):
        raise ValueError('reference_ids needs the window centre when num_ref >= 1 or ref_radius is given')
    if num_ref == ALL_REFERENCES:
        first, last = 0, num_frames - 1
        if ref_radius is not None:
            # The first multiple of ref_stride at or after centre - radius.
            first = max(0, -(-(center - ref_radius) // ref_stride) * ref_stride)
            last = min(last, center + ref_radius)
        return [i for i in range(first, last + 1, ref_stride) if i not in local]
    if num_ref < 1:
        raise ValueError(f'num_ref must be {ALL_REFERENCES} (every ref_stride-th frame) or >= 1, got {num_ref}')
    half_span = ref_stride * (num_ref // 2)
    refs: List[int] = []
    for i in range(max(0, center - half_span), min(num_frames - 1, center + half_span) + 1, ref_stride):
        if i in local:
            continue
        if len(refs) > num_ref:
            break
        if ref_radius is None or abs(i - center) <= ref_radius:
            refs.append(i)
    return refs


def reference_reach(neighbor_stride: int, num_ref: int, ref_stride: int, ref_radius: int) -> int:
    """How many frames before its centre a window may read (local or reference frames).

    Args:
        neighbor_stride: s.
        num_ref: -1, or the number of references around the centre.
        ref_stride: r.
        ref_radius: the largest ``|i - f|`` of a reference.

    Returns:
        int: ``max(s, ref_radius)`` for ``num_ref == -1``, else ``max(s, min(ref_radius, r·(num_ref // 2)))``.
    """
    refs = ref_radius if num_ref == ALL_REFERENCES else min(ref_radius, ref_stride * (num_ref // 2))
    return max(neighbor_stride, refs)


class Window(NamedTuple):
    """One window: its centre f, its local frames and its reference frames (0-based indices, ascending)."""

    center: int
    local: List[int]
    references: List[int]

    @property
    def ids(self) -> List[int]:
        """Frames the inpainter gets, local first: ``local + references``."""
        return self.local + self.references


def sliding_windows(num_frames: int, neighbor_stride: int = DEFAULT_NEIGHBOR_STRIDE,
                    ref_stride: int = DEFAULT_REF_STRIDE, num_ref: int = ALL_REFERENCES,
                    ref_radius: Optional[int] = None) -> Iterator[Window]:
    """The windows that complete a video, in order (:func:`window_starts`, :func:`neighbor_ids`,
    :func:`reference_ids`).

    Args:
        num_frames: L, frames in the video (>= 1).
        neighbor_stride: s, frames between window centres.
        ref_stride: r, frames between references.
        num_ref: -1 (every r-th frame of the video), or the number of references around each centre.
        ref_radius: None (official), or the largest ``|i - f|`` of a reference.

    Yields:
        Window: centre, local frames and reference frames of each window.
    """
    for center in window_starts(num_frames, neighbor_stride):
        local = neighbor_ids(center, num_frames, neighbor_stride)
        yield Window(center, local,
                     reference_ids(local, num_frames, ref_stride, num_ref, center=center, ref_radius=ref_radius))


class WindowBlender:
    """Merges the windows' predictions of each frame as the official scripts do, and releases final frames.

    A frame's first prediction is kept, each later one blended in as
    ``0.5 * previous + 0.5 * new``. Window ``f + s`` predicts only frames
    ``>= f``, so once window ``f`` is added every frame before ``f`` is final
    (every frame once the last window is added). Predictions may be NumPy
    arrays or tensors; they are not modified in place.

    Args:
        num_frames: L, frames in the video.
        neighbor_stride: s, frames between window centres (as given to :func:`sliding_windows`).
    """

    def __init__(self, num_frames: int, neighbor_stride: int = DEFAULT_NEIGHBOR_STRIDE):
        _check_positive('num_frames', num_frames)
        _check_positive('neighbor_stride', neighbor_stride)
        self.num_frames, self.neighbor_stride = num_frames, neighbor_stride
        self.blended: Dict[int, Any] = {}
        self.final_below = 0  # frames before this index are final
        self.released = 0  # frames before this index have been handed out by pop_final

    def add(self, window: Window, predictions: Sequence[Any]) -> None:
        """Blend in one window's predictions of its local frames.

        Args:
            window: the window, as :func:`sliding_windows` yields it (windows in order).
            predictions: one prediction per ``window.local`` frame, in that order
                (e.g. an (n_local, ...) array or tensor).
        """
        if len(predictions) != len(window.local):
            raise ValueError(f'window {window.center}: {len(predictions)} predictions for {len(window.local)} '
                             'local frames')
        for index, prediction in zip(window.local, predictions):
            if index < self.released:
                raise ValueError(f'frame {index} was already released as final; add the windows in order')
            previous = self.blended.get(index)
            self.blended[index] = prediction if previous is None else 0.5 * previous + 0.5 * prediction
        last = window.center + self.neighbor_stride >= self.num_frames
        self.final_below = self.num_frames if last else max(self.final_below, window.center)

    def pop_final(self) -> List[Tuple[int, Any]]:
        """The frames that became final since the last call, in order, as ``(index, blended prediction)``.

        They are forgotten here; each frame is handed out exactly once.
        """
        final = [(index, self.blended.pop(index)) for index in range(self.released, self.final_below)]
        self.released = self.final_below
        return final
