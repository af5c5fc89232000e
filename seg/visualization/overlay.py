"""Draw segmentation results over images (BGR uint8, OpenCV conventions)."""
from typing import Optional, Sequence

import cv2
import numpy as np


def palette(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3) uint8 distinct-ish BGR colours, the same for the same ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 256, size=(n, 3), dtype=np.uint8)


def overlay_masks(image: np.ndarray, masks: np.ndarray, alpha: float = 0.5,
                  points: Optional[Sequence[Sequence[float]]] = None,
                  colours: Optional[np.ndarray] = None) -> np.ndarray:
    """Blend (K, H, W) bool ``masks`` over the (H, W, 3) ``image``, outline them, mark ``points``.

    ``colours`` (K, 3) uint8, in the image's channel order (default :func:`palette`, BGR).
    """
    if masks.shape[1:] != image.shape[:2]:
        raise ValueError(f'masks {masks.shape[1:]} and image {image.shape[:2]} differ in size')
    colours = palette(len(masks)) if colours is None else colours
    out = image.copy()
    for mask, colour in zip(masks, colours):
        out[mask] = (out[mask] * (1 - alpha) + colour * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), 1)
    for x, y in points or []:
        cv2.circle(out, (int(round(x)), int(round(y))), 4, (0, 0, 255), -1)
        cv2.circle(out, (int(round(x)), int(round(y))), 4, (255, 255, 255), 1)
    return out


def overlay_panoptic(image: np.ndarray, pan_seg: np.ndarray, void: int, alpha: float = 0.5) -> np.ndarray:
    """Colour each segment id of the (H, W) panoptic map (``void`` left unpainted) over ``image``."""
    ids = [i for i in np.unique(pan_seg) if i != void]
    return overlay_masks(image, np.stack([pan_seg == i for i in ids]) if ids else
                         np.zeros((0, *pan_seg.shape), dtype=bool), alpha)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two (H, W, 3) images next to each other."""
    return np.concatenate([left, right], axis=1)
