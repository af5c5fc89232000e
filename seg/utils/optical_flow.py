"""Classical optical flow (OpenCV DIS) shared by the inpainting metrics, the flow-propagation inpainter and TMO."""
import cv2
import numpy as np

#: OpenCV DIS optical-flow presets by name.
DIS_PRESETS = {
    'ultrafast': cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    'fast': cv2.DISOPTICAL_FLOW_PRESET_FAST,
    'medium': cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def dis_optical_flow(preset: str = 'medium') -> cv2.DISOpticalFlow:
    """An OpenCV DIS estimator for a preset name of :data:`DIS_PRESETS`."""
    if preset not in DIS_PRESETS:
        raise ValueError(f'DIS preset must be one of {sorted(DIS_PRESETS)}, got {preset!r}')
    return cv2.DISOpticalFlow_create(DIS_PRESETS[preset])


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB on 0..255 (any dtype; clipped) → (H, W) uint8 grey, DIS's input."""
    return cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def dis_flow(img1: np.ndarray, img2: np.ndarray, preset: str = 'medium') -> np.ndarray:
    """Optical flow from ``img1`` to ``img2`` with OpenCV's DIS on grey levels.

    Args:
        img1, img2: (H, W, 3) RGB frames on 0..255.
        preset: a name of :data:`DIS_PRESETS`.

    Returns:
        (H, W, 2) float32 flow in px, (x, y), on ``img1``'s grid: ``img1(p) ≈ img2(p + flow(p))``.
    """
    return dis_optical_flow(preset).calc(rgb_to_grey(img1), rgb_to_grey(img2), None)
