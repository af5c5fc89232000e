"""Which frames each sliding window of E2FGVI's whole-video inference sees.

The official ``evaluate.py`` / ``test.py`` complete a video window by window:
windows start at ``f = 0, s, 2s, ...`` (``s`` = neighbour stride, 5); a window's
local (neighbour) frames are ``max(0, f - s) .. min(L - 1, f + s)`` and its
reference frames are every ``ref_stride``-th frame (10) of the whole video that
is not local. ``test.py`` can instead take ``num_ref`` references around ``f``.
Frame indices are 0-based positions in the video.
"""
from typing import List, Optional, Sequence

#: Official ``evaluate.py`` / ``test.py`` defaults.
DEFAULT_NEIGHBOR_STRIDE = 5
DEFAULT_REF_STRIDE = 10
#: ``num_ref`` meaning "every ref_stride-th frame of the video" (the official default).
ALL_REFERENCES = -1


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f'{name} must be >= 1, got {value}')


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
