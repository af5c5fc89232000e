"""E2FGVI's training holes (random free-form shapes, still or moving) and its test-time mask dilation.

:func:`random_free_form_masks` makes what the official
``create_random_shape_with_random_motion`` (``core/utils.py``) makes, drawing
from one ``numpy.random.Generator`` instead of the global ``random`` and
``numpy.random`` states, and rasterising the shape with OpenCV instead of
matplotlib:

1. A shape box of ``h`` in ``[H // 3, H - 1]`` by ``w`` in ``[W // 3, W - 1]``
   px, ``edge_num`` in ``{6, 7, 8}`` cubic Bézier segments and a radial
   perturbation ``ratio`` in ``{0.6, 0.7, 0.8}``.
2. ``3 * edge_num + 1`` control points at equally spaced angles on the unit
   circle (the last one repeats the first), each at a radius uniform in
   ``[1 - ratio, 1 + ratio)``; consecutive triples are the Bézier segments.
3. The official draws that path filled into a default matplotlib figure
   (640x480 px, axes spanning 0.125..0.9 of the width and 0.11..0.88 of the
   height, both axis limits ``1.1 * (min, max)`` of all control coordinates,
   anti-aliased, outlined by a 2 pt black stroke), resizes the whole figure
   bilinearly to ``(w, h)`` and keeps the pixels that are still pure black.
   :func:`free_form_shape` reproduces that geometry by filling and stroking the
   sampled curve with OpenCV on a supersampled copy of the 640x480 canvas, then
   the same resize and threshold (intersection over union with matplotlib's
   rendering of the same path >= 0.99). The shape is
   cropped to its bounding box without the box's last row and column, as the
   official PIL crop does.
4. The shape is placed at a uniform top-left corner inside the frame. With
   probability 0.5 the mask stays there for the whole video; otherwise it moves:
   the initial speed is uniform in ``(1, 3]`` px/frame (the official
   ``np.random.uniform(3)`` is ``uniform(low=3, high=1)``) at a uniform angle;
   each frame the corner moves by the speed's (x, y) components truncated to
   integers, then speed and angle get Gaussian kicks (std 1.5 px/frame and
   0.25 rad); when the moved corner left the frame, the velocity is redrawn
   (speed ``|N(0, 1.5)|``, uniform angle) and the corner clipped back inside.

Masks are ``uint8`` with 1 = hole (the official returns PIL 'L' images with 255
= hole; the dataset divides them by 255).
"""
from typing import Optional, Tuple

import cv2
import numpy as np

__all__ = ['free_form_shape', 'random_free_form_masks', 'dilate_test_mask', 'TEST_MASK_DILATION_ITERATIONS']

#: Shape box side range: from ``1 / SHAPE_MIN_DIVISOR`` of the frame side to the side minus one pixel.
SHAPE_MIN_DIVISOR = 3
#: Smallest frame side (px) :func:`random_free_form_masks` accepts.
MIN_FRAME_SIDE = 16
#: Number of Bézier segments (possibly sharp corners): inclusive range.
EDGE_NUM_RANGE = (6, 8)
#: Radial perturbation of the control points, in tenths: inclusive range (0.6..0.8).
RATIO_TENTHS_RANGE = (6, 8)
#: Probability that the mask does not move.
STATIONARY_PROB = 0.5
#: Initial speed is uniform in (INIT_SPEED_LOW, INIT_SPEED_HIGH] px per frame.
INIT_SPEED_LOW, INIT_SPEED_HIGH = 1.0, 3.0
#: Speed of a redrawn velocity: ``|N(0, MAX_SPEED / 2)|`` px per frame.
MAX_SPEED = 3.0
#: Per-frame Gaussian acceleration: std of the speed (px/frame) and angle (rad) kicks.
SPEED_KICK_STD, ANGLE_KICK_STD = 3.0 / 2, 0.5 / 2

# Geometry of the default matplotlib figure the official draws the shape into.
_CANVAS_W, _CANVAS_H = 640, 480
_AXES_LEFT, _AXES_RIGHT, _AXES_BOTTOM, _AXES_TOP = 0.125, 0.9, 0.11, 0.88
_AXES_MARGIN = 1.1
# The official patch is also stroked in black, 2 pt wide at the figure's 100 dpi (px).
_STROKE_WIDTH = 2 * 100 / 72
# Curve samples per Bézier segment, supersampling factor of the canvas, sub-pixel bits of the fill.
_BEZIER_SAMPLES = 32
_SUPERSAMPLE = 4
_FILL_SHIFT = 4

#: Official test-time dilation of the fixed masks: a 3x3 cross, applied this many times.
TEST_MASK_DILATION_ITERATIONS = 4


def _bezier_outline(control: np.ndarray) -> np.ndarray:
    """Points along a closed chain of cubic Bézier segments.

    Args:
        control: (3 * n + 1, 2) control points; segment k uses rows 3k..3k+3.

    Returns:
        (n * _BEZIER_SAMPLES, 2) float64 points on the curve.
    """
    t = np.linspace(0.0, 1.0, _BEZIER_SAMPLES, endpoint=False)[:, None]
    weights = [(1 - t)**3, 3 * (1 - t)**2 * t, 3 * (1 - t) * t**2, t**3]
    segments = []
    for k in range(0, len(control) - 1, 3):
        p = control[k:k + 4]
        segments.append(sum(w * p[i] for i, w in enumerate(weights)))
    return np.concatenate(segments)


def _rasterise_shape(control: np.ndarray, height: int, width: int) -> np.ndarray:
    """The filled and stroked Bézier path as the official figure-then-resize produces it, before cropping.

    The 640x480 canvas is rendered by supersampling: the curve is filled and
    stroked (round joins, :data:`_STROKE_WIDTH` px wide) at ``_SUPERSAMPLE``
    times the resolution, then box-averaged to the canvas's grey levels (0 =
    fully covered), as matplotlib's anti-aliased renderer shades them.

    Args:
        control: (3 * n + 1, 2) control points (x, y) in the shape's unit coordinates.
        height, width: Size (px) the whole figure is resized to.

    Returns:
        (height, width) uint8, 1 where the shape is.
    """
    low, high = control.min() * _AXES_MARGIN, control.max() * _AXES_MARGIN
    unit = (_bezier_outline(control) - low) / (high - low)
    # Display coordinates have their origin at the bottom left with pixel edges on integers;
    # OpenCV puts pixel centres on integers, with rows counted from the top.
    col = _CANVAS_W * (_AXES_LEFT + (_AXES_RIGHT - _AXES_LEFT) * unit[:, 0]) * _SUPERSAMPLE - 0.5
    row = _CANVAS_H * (1 - _AXES_BOTTOM - (_AXES_TOP - _AXES_BOTTOM) * unit[:, 1]) * _SUPERSAMPLE - 0.5
    points = np.round(np.stack([col, row], 1) * (1 << _FILL_SHIFT)).astype(np.int32)
    covered = np.zeros((_CANVAS_H * _SUPERSAMPLE, _CANVAS_W * _SUPERSAMPLE), np.uint8)
    cv2.fillPoly(covered, [points], 255, lineType=cv2.LINE_8, shift=_FILL_SHIFT)
    cv2.polylines(covered, [points], True, 255, thickness=int(round(_STROKE_WIDTH * _SUPERSAMPLE)),
                  lineType=cv2.LINE_8, shift=_FILL_SHIFT)
    # Area resampling by an integer factor is the box average: 255 * coverage, rounded.
    canvas = 255 - cv2.resize(covered, (_CANVAS_W, _CANVAS_H), interpolation=cv2.INTER_AREA)
    return (cv2.resize(canvas, (width, height), interpolation=cv2.INTER_LINEAR) == 0).astype(np.uint8)


def free_form_shape(rng: np.random.Generator, edge_num: int, ratio: float, height: int, width: int) -> np.ndarray:
    """One random closed Bézier blob, cropped to its bounding box (official ``get_random_shape``).

    Args:
        rng: Source of the control-point radii.
        edge_num: Number of cubic Bézier segments.
        ratio: Radial perturbation; control radii are uniform in ``[1 - ratio, 1 + ratio)``.
        height, width: Size (px) of the box the drawing is resized to before cropping.

    Returns:
        (h, w) uint8 shape, 1 inside, with h < height and w < width.
    """
    num_points = 3 * edge_num + 1
    angles = np.linspace(0, 2 * np.pi, num_points)
    radii = 2 * ratio * rng.random(num_points) + 1 - ratio
    control = np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]
    control[-1] = control[0]
    shape = _rasterise_shape(control, height, width)
    rows, cols = np.nonzero(shape)
    if rows.size == 0:
        raise ValueError(f'a {height}x{width} px box is too small to hold a free-form shape')
    return shape[rows.min():rows.max(), cols.min():cols.max()]


def _random_velocity(rng: np.random.Generator) -> Tuple[float, float]:
    """A redrawn velocity after leaving the frame: (|N(0, MAX_SPEED / 2)| px/frame, uniform angle rad)."""
    return abs(rng.normal(0.0, MAX_SPEED / 2)), rng.uniform(0.0, 2 * np.pi)


def random_free_form_masks(num_frames: int,
                           height: int = 240,
                           width: int = 432,
                           rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """A video of one random free-form hole, still (probability 0.5) or moving (see the module docstring).

    Args:
        num_frames: T >= 1.
        height, width: Frame size in px.
        rng: Source of all randomness; the same generator state gives the same masks.
            None draws a fresh one from OS entropy.

    Returns:
        (T, height, width) uint8 masks, 1 = hole; all frames equal when the hole is still.
    """
    if num_frames < 1:
        raise ValueError(f'num_frames must be >= 1, got {num_frames}')
    if min(height, width) < MIN_FRAME_SIDE:
        raise ValueError(f'frames of {height}x{width} px are too small for free-form masks '
                         f'(need >= {MIN_FRAME_SIDE} px a side)')
    rng = np.random.default_rng() if rng is None else rng
    box_h = int(rng.integers(height // SHAPE_MIN_DIVISOR, height))
    box_w = int(rng.integers(width // SHAPE_MIN_DIVISOR, width))
    edge_num = int(rng.integers(EDGE_NUM_RANGE[0], EDGE_NUM_RANGE[1] + 1))
    ratio = int(rng.integers(RATIO_TENTHS_RANGE[0], RATIO_TENTHS_RANGE[1] + 1)) / 10
    shape = free_form_shape(rng, edge_num, ratio, box_h, box_w)
    shape_h, shape_w = shape.shape
    max_row, max_col = height - shape_h, width - shape_w
    row, col = int(rng.integers(0, max_row + 1)), int(rng.integers(0, max_col + 1))
    speed = INIT_SPEED_HIGH - (INIT_SPEED_HIGH - INIT_SPEED_LOW) * rng.random()
    angle = rng.uniform(0.0, 2 * np.pi)

    masks = np.zeros((num_frames, height, width), np.uint8)
    masks[0, row:row + shape_h, col:col + shape_w] = shape
    if rng.random() < STATIONARY_PROB:
        masks[1:] = masks[0]
        return masks
    for t in range(1, num_frames):
        # The official calls the row offset X and moves it by the speed's cosine component.
        row += int(speed * np.cos(angle))
        col += int(speed * np.sin(angle))
        speed += rng.normal(0.0, SPEED_KICK_STD)
        angle += rng.normal(0.0, ANGLE_KICK_STD)
        if not (0 <= row <= max_row and 0 <= col <= max_col):
            speed, angle = _random_velocity(rng)
        row, col = int(np.clip(row, 0, max_row)), int(np.clip(col, 0, max_col))
        masks[t, row:row + shape_h, col:col + shape_w] = shape
    return masks


def dilate_test_mask(mask: np.ndarray) -> np.ndarray:
    """The official test-time mask processing after resizing: binarise, then dilate.

    ``core/dataset.py`` ``TestDataset`` and ``test.py`` ``read_mask`` both take
    ``mask > 0`` and dilate it with a 3x3 cross 4 times (each hole grows by 4 px
    in city-block distance).

    Args:
        mask: (H, W) any numeric mask, nonzero = hole.

    Returns:
        (H, W) uint8, 1 = hole.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    return cv2.dilate((np.asarray(mask) > 0).astype(np.uint8), kernel, iterations=TEST_MASK_DILATION_ITERATIONS)
