"""DAVIS region (J) and boundary (F) measures, computed as the DAVIS 2017 toolkit computes them.

``davisvideochallenge/davis2017-evaluation``: J is the IoU (1 when both masks
are empty); F is the boundary F-measure of one-pixel boundary maps matched
within a disk of radius ceil(0.008 · image diagonal), dilated with OpenCV; per
object, mean, recall (fraction of frames > 0.5) and decay (mean of the first
quarter minus mean of the last quarter of the frames) are taken. The disk is
built here (x² + y² ≤ r², what ``skimage.morphology.disk`` returns), so
scikit-image is not needed.
"""
import warnings
from typing import Optional, Tuple

import cv2
import numpy as np

#: Boundary tolerance as a fraction of the image diagonal.
BOUND_TH = 0.008
#: Frames are split in this many bins for the decay.
DECAY_BINS = 4
#: A frame "recalls" an object when its measure exceeds this.
RECALL_THRESHOLD = 0.5


def region_similarity(annotation: np.ndarray, segmentation: np.ndarray,
                      void_pixels: Optional[np.ndarray] = None) -> np.ndarray:
    """Jaccard index over the last two axes of (..., H, W) binary masks; 1 where the union is empty."""
    annotation, segmentation = annotation.astype(bool), segmentation.astype(bool)
    valid = np.ones_like(segmentation) if void_pixels is None else ~void_pixels.astype(bool)
    inters = np.sum(segmentation & annotation & valid, axis=(-2, -1))
    union = np.sum((segmentation | annotation) & valid, axis=(-2, -1))
    with np.errstate(divide='ignore', invalid='ignore'):
        j = inters / union
    return np.where(np.isclose(union, 0), 1.0, j)


def boundary_map(seg: np.ndarray) -> np.ndarray:
    """One-pixel boundary map of a (H, W) mask, offset half a pixel towards the origin (Martin et al. 2003)."""
    seg = seg.astype(bool)
    east, south, south_east = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = seg ^ east | seg ^ south | seg ^ south_east
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


def disk(radius: float) -> np.ndarray:
    """(2r+1, 2r+1) uint8 disk, x² + y² ≤ r² (``skimage.morphology.disk`` with its default strict radius)."""
    grid = np.arange(-radius, radius + 1)
    x, y = np.meshgrid(grid, grid)
    return (x**2 + y**2 <= radius**2).astype(np.uint8)


def boundary_f(segmentation: np.ndarray, annotation: np.ndarray, void_pixels: Optional[np.ndarray] = None,
               bound_th: float = BOUND_TH) -> float:
    """Boundary F-measure of one (H, W) frame (``bound_th`` ≥ 1 is a radius in pixels)."""
    valid = np.ones(segmentation.shape, bool) if void_pixels is None else ~void_pixels.astype(bool)
    radius = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(segmentation.shape))
    fg_boundary = boundary_map(segmentation * valid)
    gt_boundary = boundary_map(annotation * valid)
    kernel = disk(radius)
    fg_dil = cv2.dilate(fg_boundary.astype(np.uint8), kernel)
    gt_dil = cv2.dilate(gt_boundary.astype(np.uint8), kernel)
    n_fg, n_gt = np.sum(fg_boundary), np.sum(gt_boundary)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision = np.sum(fg_boundary * gt_dil) / float(n_fg)
        recall = np.sum(gt_boundary * fg_dil) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def boundary_f_frames(annotation: np.ndarray, segmentation: np.ndarray,
                      void_pixels: Optional[np.ndarray] = None) -> np.ndarray:
    """:func:`boundary_f` of every frame of (T, H, W) masks → (T,)."""
    return np.array([boundary_f(segmentation[t], annotation[t], None if void_pixels is None else void_pixels[t])
                     for t in range(annotation.shape[0])], dtype=np.float64)


def statistics(per_frame: np.ndarray) -> Tuple[float, float, float]:
    """Mean, recall and decay of one object's per-frame measure.

    The bin edges are rounded frame indices stored as uint8, as in the toolkit,
    so sequences over 256 evaluated frames get the toolkit's (wrapped) decay.
    """
    with warnings.catch_warnings():  # empty bins: nan, as in the toolkit
        warnings.simplefilter('ignore', category=RuntimeWarning)
        mean = np.nanmean(per_frame)
        recall = np.nanmean(per_frame > RECALL_THRESHOLD)
        ids = (np.round(np.linspace(1, len(per_frame), DECAY_BINS + 1) + 1e-10) - 1).astype(np.uint8)
        bins = [per_frame[ids[i]:ids[i + 1] + 1] for i in range(DECAY_BINS)]
        decay = np.nanmean(bins[0]) - np.nanmean(bins[-1])
    return float(mean), float(recall), float(decay)
