"""Interactive segmentation without weights: OpenCV GrabCut seeded by a box and/or clicks."""
from typing import Optional, Sequence

import cv2
import numpy as np

from seg.registry import MODELS

from .segmenter_prompt import PromptNotSupportedError, check_segmenter_prompt

#: A flood fill from a click covering more of the frame than this tells nothing about the object: it is dropped.
MAX_FILL = 0.5
#: GrabCut fits a 5-component colour GMM to each side: fewer pixels than this on a side cannot be modelled.
MIN_MODEL_PIXELS = 20


@MODELS.register_module()
class GrabCutSegmenter:
    """Segment one object of a frame with GrabCut (colour GMMs + a graph cut), seeded by the prompt.

    Seeding, in GrabCut's four labels:

    - a box: outside it is background, inside probably foreground (OpenCV's
      rectangle initialisation);
    - clicks alone: a square of ``click_extent`` times the frame's shorter side
      around each positive click, and the pixels of about the clicked colour
      connected to it (a flood fill within ``fill_tolerance`` per channel, kept
      when it covers at most ``MAX_FILL`` of the frame), are probably foreground,
      the rest probably background;
    - positive clicks are foreground discs and negative clicks background discs
      of ``click_radius`` px, whatever else is given;
    - a mask (a rough mask, e.g. the previous one): its pixels probably
      foreground, the rest probably background.

    The cut runs in a region around the seeds (``context`` times their extent
    each side) for speed; the object is the part of the cut connected to a
    positive click (every component inside the box when there are no clicks).

    Args:
        iterations: GrabCut's EM iterations (OpenCV's demo: 5).
        click_radius: radius (px) of the disc a click fixes.
        click_extent: side of the probable-foreground square around clicks, as a
            fraction of the frame's shorter side (clicks alone give no extent).
        fill_tolerance: largest per-channel difference (0..255) from the clicked pixel's colour
            (both smoothed by a 5x5 Gaussian) of the flood fill; 0 fills nothing.
        context: margin of the region the cut runs in, as a fraction of the seeds' extent.
    """

    def __init__(self, iterations: int = 5, click_radius: int = 3, click_extent: float = 0.25,
                 fill_tolerance: int = 30, context: float = 0.5):
        self.iterations = iterations
        self.click_radius = click_radius
        self.click_extent = click_extent
        self.fill_tolerance = fill_tolerance
        self.context = context

    def segment(self, frame: np.ndarray, points: Optional[Sequence[Sequence[float]]] = None,
                labels: Optional[Sequence[int]] = None, box: Optional[Sequence[float]] = None,
                mask: Optional[np.ndarray] = None, text: Optional[str] = None) -> np.ndarray:
        """The object's mask.

        Args:
            frame: (H, W, 3) uint8 RGB.
            points: (x, y) clicks in px; ``labels`` 1 positive, 0 negative (default all 1).
            box: (x1, y1, x2, y2) px.
            mask: (H, W) bool rough mask.
            text: not supported (no weights understand words): raises.

        Returns:
            (H, W) bool.

        Raises:
            PromptNotSupportedError: a text prompt.
            SegmenterPromptError: a malformed prompt (see :func:`check_segmenter_prompt`).
        """
        if text is not None:
            raise PromptNotSupportedError(f'{type(self).__name__} takes no text prompt ({text!r}): give clicks or a '
                                          'box, or FastSAM2 weights for text')
        height, width = frame.shape[:2]
        points, labels = check_segmenter_prompt((height, width), points, labels, box, mask)
        seeds = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
        if box is not None:
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            seeds[:] = cv2.GC_BGD
            seeds[y1:y2, x1:x2] = cv2.GC_PR_FGD
        elif mask is not None:
            seeds[mask] = cv2.GC_PR_FGD
        else:
            half = max(self.click_radius + 1, int(self.click_extent * min(height, width) / 2))
            for (x, y), label in zip(points, labels):
                if label == 1:
                    seeds[max(0, int(y) - half):int(y) + half + 1, max(0, int(x) - half):int(x) + half + 1] = \
                        cv2.GC_PR_FGD
            seeds[self._fill(frame, [p for p, label in zip(points, labels) if label == 1])] = cv2.GC_PR_FGD
        for (x, y), label in zip(points, labels):
            cv2.circle(seeds, (int(round(x)), int(round(y))), self.click_radius,
                       int(cv2.GC_FGD if label == 1 else cv2.GC_BGD), -1)
        object_mask = self._cut(frame, seeds)
        positive = [(int(round(x)), int(round(y))) for (x, y), label in zip(points, labels) if label == 1]
        return keep_clicked(object_mask, positive)

    def _fill(self, frame: np.ndarray, clicks: Sequence[Sequence[float]]) -> np.ndarray:
        """(H, W) bool: the pixels of about each click's colour connected to it; none when that covers more
        than :data:`MAX_FILL` of the frame (the click's colour is everywhere: no hint of the object)."""
        height, width = frame.shape[:2]
        region = np.zeros((height, width), bool)
        if self.fill_tolerance <= 0:
            return region
        smooth = cv2.GaussianBlur(frame, (5, 5), 0)
        tolerance = (self.fill_tolerance, ) * 3
        flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
        for x, y in clicks:
            filled = np.zeros((height + 2, width + 2), np.uint8)
            cv2.floodFill(smooth, filled, (int(x), int(y)), 0, tolerance, tolerance, flags)
            region |= filled[1:-1, 1:-1].astype(bool)
        return region if region.mean() <= MAX_FILL else np.zeros_like(region)

    def _cut(self, frame: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """GrabCut of ``seeds`` (H, W) GC labels in a region around the non-background seeds → (H, W) bool."""
        height, width = seeds.shape
        foreground = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD))
        if not foreground.any():
            return foreground
        ys, xs = np.nonzero(foreground)
        margin_y = int(self.context * (ys.max() - ys.min() + 1)) + 2 * self.click_radius + 8
        margin_x = int(self.context * (xs.max() - xs.min() + 1)) + 2 * self.click_radius + 8
        top, bottom = max(0, ys.min() - margin_y), min(height, ys.max() + margin_y + 1)
        left, right = max(0, xs.min() - margin_x), min(width, xs.max() + margin_x + 1)
        crop = np.ascontiguousarray(seeds[top:bottom, left:right])
        crop_foreground = np.isin(crop, (cv2.GC_FGD, cv2.GC_PR_FGD))
        if min(crop_foreground.sum(), (~crop_foreground).sum()) < MIN_MODEL_PIXELS:
            return foreground  # too few pixels on one side to fit a colour model: the seeds stand
        image = np.ascontiguousarray(cv2.cvtColor(frame[top:bottom, left:right], cv2.COLOR_RGB2BGR))
        background_model = np.zeros((1, 65), np.float64)
        foreground_model = np.zeros((1, 65), np.float64)
        cv2.grabCut(image, crop, None, background_model, foreground_model, self.iterations, cv2.GC_INIT_WITH_MASK)
        out = np.zeros((height, width), bool)
        out[top:bottom, left:right] = np.isin(crop, (cv2.GC_FGD, cv2.GC_PR_FGD))
        return out


def keep_clicked(mask: np.ndarray, positive: Sequence[Sequence[int]]) -> np.ndarray:
    """The connected components (8-connected) of ``mask`` (H, W) bool holding a positive click (x, y) px.

    Without clicks the mask is returned whole.
    """
    if not positive or not mask.any():
        return mask
    count, components = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = {int(components[y, x]) for x, y in positive} - {0}
    return np.isin(components, sorted(keep)) if keep else np.zeros_like(mask)
