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


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a flow field bilinearly and rescale its vectors to the new grid.

    Args:
        flow: (H, W, 2) flow in px of an H x W grid, (x, y).
        height, width: The new grid's size in px.

    Returns:
        (height, width, 2) float32 flow in px of the new grid: x scaled by ``width / W``, y by ``height / H``.
    """
    old_h, old_w = flow.shape[:2]
    flow = np.asarray(flow, np.float32)
    if (old_h, old_w) == (height, width):
        return flow.copy()
    resized = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    resized[..., 0] *= width / old_w
    resized[..., 1] *= height / old_h
    return resized
