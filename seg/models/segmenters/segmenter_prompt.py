"""The prompt every segmenter takes, checked once: clicks, a box, a rough mask, a text (see ``SESSION_CONTRACT``).

Points are (x, y) px of the frame, labels 1 positive / 0 negative; a box is
(x1, y1, x2, y2) px with x2 > x1 and y2 > y1; a mask is (H, W) at the frame's size.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from seg.fileio.errors import InputError


class SegmenterPromptError(InputError):
    """A prompt a frame cannot take: a click or box outside it, labels that are not 0/1, a mask of another size."""


class PromptNotSupportedError(SegmenterPromptError):
    """A prompt kind the segmenter has no means to use (text without a text encoder)."""


def check_segmenter_prompt(size: Tuple[int, int], points: Optional[Sequence[Sequence[float]]] = None,
                           labels: Optional[Sequence[int]] = None, box: Optional[Sequence[float]] = None,
                           mask: Optional[np.ndarray] = None,
                           text: Optional[str] = None) -> Tuple[List[Tuple[float, float]], List[int]]:
    """Check a prompt against a frame of ``size`` (H, W) and return its points and labels as lists.

    Returns:
        [(x, y), ...] px and [1 | 0, ...] (labels default to 1); both empty without points.

    Raises:
        SegmenterPromptError: no prompt at all, points that are not (x, y) pairs or lie outside the frame,
            labels other than 0/1 or of another count, a box outside the frame or with x2 <= x1 / y2 <= y1,
            a mask of another size, a text that is empty or no str.
    """
    height, width = size
    if points is None and box is None and mask is None and text is None:
        raise SegmenterPromptError('the prompt is empty; give clicks, a box, a mask or a text')
    pts: List[Tuple[float, float]] = []
    if points is not None:
        array = np.asarray(points, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0 or not np.isfinite(array).all():
            raise SegmenterPromptError(f'points must be [(x, y), ...] px; got {np.asarray(points).tolist()!r}')
        for x, y in array:
            if not (0 <= x < width and 0 <= y < height):
                raise SegmenterPromptError(f'click ({x:g}, {y:g}) lies outside the {width}x{height} frame (x in '
                                           f'0..{width - 1}, y in 0..{height - 1}); click inside the frame')
        pts = [(float(x), float(y)) for x, y in array]
    if labels is None:
        labs = [1] * len(pts)
    else:
        labs = [int(v) for v in np.asarray(labels).reshape(-1)]
        if len(labs) != len(pts) or not set(labs) <= {0, 1}:
            raise SegmenterPromptError(f'labels must be one 1 (positive) or 0 (negative) per click; got {labs} for '
                                       f'{len(pts)} clicks')
    if pts and box is None and mask is None and 1 not in labs:
        raise SegmenterPromptError('only negative clicks: give at least one positive click (label 1) or a box')
    if box is not None:
        values = np.asarray(box, dtype=np.float64).reshape(-1)
        if values.size != 4 or not np.isfinite(values).all():
            raise SegmenterPromptError(f'a box must be (x1, y1, x2, y2) px; got {box!r}')
        x1, y1, x2, y2 = values
        if not (x2 > x1 and y2 > y1):
            raise SegmenterPromptError(f'box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) needs x2 > x1 and y2 > y1')
        if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
            raise SegmenterPromptError(f'box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) reaches outside the {width}x{height} '
                                       'frame; keep it inside')
    if mask is not None:
        shape = np.shape(mask)
        if tuple(shape) != (height, width):
            raise SegmenterPromptError(f'the mask is {"x".join(map(str, shape))} but the frame is {height}x{width} '
                                       '(H x W); give a mask of the frame size')
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise SegmenterPromptError(f'a text prompt must be a non-empty sentence; got {text!r}')
    return pts, labs
