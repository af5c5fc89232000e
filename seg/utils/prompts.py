"""Point prompts from ground-truth masks, as RAP-SAM trains and evaluates with them.

Shared by the models (``VideoSegDataPreprocessor``) and the datasets
(``SampleInteractivePrompts``), so it lives below both.

* Evaluation gives each ground-truth segment one click at its most interior
  pixel (:func:`interior_points`).
* Training ("COCO-SAM" prompts) clicks a uniformly random foreground pixel of
  randomly chosen instances (:func:`random_foreground_points`).

Either way the click reaches the model as a small pseudo-box around the point
(:func:`points_to_boxes`). Points are ``(x, y)`` = (column, row) in pixels of
the masks they come from.
"""
import math
from typing import Optional, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor

# A click reaches the model as a (2·CLICK_HALF_SIZE)-pixel square pseudo-box (RAP-SAM: 6×6).
CLICK_HALF_SIZE = 3


def _check_masks(masks: Tensor) -> None:
    if masks.ndim != 3:
        raise ValueError(f'masks must be (N, H, W), got shape {tuple(masks.shape)}')


def interior_points(masks: Tensor) -> Tensor:
    """The most interior pixel of each mask: the farthest from the background.

    Depth is the exact Euclidean distance (OpenCV ``DIST_L2`` with
    ``DIST_MASK_PRECISE``) from a foreground pixel to the nearest background
    pixel, where everything outside the image counts as background (the mask is
    padded by one background pixel first). Among pixels of equal depth the first
    in row-major order wins, as ``torch.argmax`` picks. Only the mask's bounding
    box plus a one-pixel margin is transformed; that gives the same depths,
    because the margin is background and lies nearer than any pixel beyond it.

    RAP-SAM computes the depth with kornia's ``distance_transform``, a cascaded
    soft-minimum that is not Euclidean, so its click can be a different pixel
    of (nearly) the same depth. Crop padded masks to the image (``img_shape``)
    before calling, or padding is not counted as background.

    Args:
        masks: (N, H, W) bool, on any device. Every mask needs a foreground pixel.

    Returns:
        (N, 2) long ``(x, y)`` pixel coordinates, on the device of ``masks``.

    Raises:
        ValueError: ``masks`` is not 3-D, or a mask is empty (its index is named).
    """
    _check_masks(masks)
    masks_np = masks.detach().bool().cpu().numpy()
    points = np.empty((len(masks_np), 2), dtype=np.int64)
    for index, mask in enumerate(masks_np):
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            raise ValueError(f'mask {index} of {len(masks_np)} is empty: it has no interior point')
        top, left = rows[0], cols[0]
        window = np.pad(mask[top:rows[-1] + 1, left:cols[-1] + 1], 1).astype(np.uint8)
        depth = cv2.distanceTransform(window, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
        row, col = np.unravel_index(np.argmax(depth), depth.shape)
        points[index] = (left + col, top + row)
    return torch.from_numpy(points).to(masks.device)


def random_foreground_points(masks: Tensor,
                             num_points: int,
                             generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """Random clicks: a uniform foreground pixel of each of ``num_points`` random instances.

    Instances are drawn as RAP-SAM's ``GeneratePoint`` draws them: a random
    permutation of the non-empty masks, repeated until it is ``num_points`` long
    and cut there. With N non-empty masks and N >= ``num_points`` that is a
    random subset without repetition; with fewer, every instance is clicked
    ``floor(num_points / N)`` or ``ceil(num_points / N)`` times. Empty masks are
    never chosen; when all are empty no points are returned.

    The random numbers are drawn on the CPU from ``generator`` (a CPU
    ``torch.Generator``; ``None`` uses torch's global CPU generator), so a
    seed gives the same points whichever device holds ``masks``.

    Args:
        masks: (N, H, W) bool, on any device.
        num_points: K, the number of clicks wanted (>= 0).
        generator: CPU random generator, or ``None``.

    Returns:
        points: (K, 2) long ``(x, y)``, each inside its instance's mask.
        instance_index: (K,) long, the index in ``masks`` each point belongs to.
        Both on the device of ``masks``; K is 0 when every mask is empty.
    """
    _check_masks(masks)
    if num_points < 0:
        raise ValueError(f'num_points must be >= 0, got {num_points}')
    device = masks.device
    nonempty = torch.nonzero(masks.flatten(1).any(dim=1)).squeeze(1).cpu()
    if nonempty.numel() == 0 or num_points == 0:
        return (torch.zeros((0, 2), dtype=torch.long, device=device),
                torch.zeros((0, ), dtype=torch.long, device=device))

    order = torch.randperm(len(nonempty), generator=generator)
    instance_index = nonempty[order.repeat(math.ceil(num_points / len(nonempty)))[:num_points]]
    # One uniform draw in [0, 1) per click picks among its instance's pixels.
    draws = torch.rand(num_points, generator=generator, dtype=torch.float64)

    points = torch.empty((num_points, 2), dtype=torch.long)
    for instance in instance_index.unique().tolist():
        slots = torch.nonzero(instance_index == instance).squeeze(1)
        pixels = torch.nonzero(masks[instance]).cpu()  # (P, 2) (row, col), row-major
        picks = (draws[slots] * len(pixels)).long().clamp_(max=len(pixels) - 1)
        points[slots] = pixels[picks].flip(1)
    return points.to(device), instance_index.to(device)


def points_to_boxes(points: Tensor, half_size: float = CLICK_HALF_SIZE) -> Tensor:
    """The pseudo-box a click is given to the model as: ``[x - s, y - s, x + s, y + s]``.

    Args:
        points: (K, 2) ``(x, y)`` pixels.
        half_size: s, half the box side in pixels (RAP-SAM uses 3: a 6x6 box).

    Returns:
        (K, 4) float32 ``(x1, y1, x2, y2)`` boxes, on the device of ``points``.
    """
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f'points must be (K, 2), got shape {tuple(points.shape)}')
    points = points.float()
    return torch.cat([points - half_size, points + half_size], dim=1)
