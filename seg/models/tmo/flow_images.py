"""Optical flow as the RGB images TMO's motion stream reads, from OpenCV's DIS when no RAFT flow is at hand.

TMO was trained and tested on RAFT flows saved with RAFT's ``flow_viz.flow_to_image``
(Baker et al.'s Middlebury colour wheel): each flow field is divided by its own
largest vector length, the direction picks the hue (right = red, down = yellow,
left = cyan, up = blue-violet) and the length the saturation, so still pixels are
white and the fastest pixel has the full colour. ``torchvision.utils.flow_to_image``
implements the same wheel, but divides a batch by the largest vector of the whole
batch, so :func:`render_flow` calls it one field at a time. Otherwise they differ only
in the guard added to the largest length (float32 machine epsilon instead of 1e-5) and
in float32 arithmetic, which move a channel by at most one grey level (RAFT's dimming
of lengths above 1 cannot happen after the normalisation).

:func:`video_flow_images` gives one image per frame as the official data layout has
(``JPEGFlows/480p/<seq>/<frame>.jpg``): frame t's flow goes from frame t to t + 1
on frame t's grid; the last frame has no successor and takes, by default, the
backward flow from it to the frame before (``last_frame='backward'``), or the image
of the frame before (``'previous'``).
"""
from typing import Optional

import cv2
import numpy as np
import torch
from torchvision.utils import flow_to_image

from seg.utils.optical_flow import dis_optical_flow, rgb_to_grey

#: How the last frame, which has no next frame, gets its flow image.
LAST_FRAME_MODES = ('backward', 'previous')


def render_flow(flow) -> np.ndarray:
    """Flow field(s) → RGB image(s) in RAFT's colour-wheel convention, each normalised by its own largest vector.

    Args:
        flow: (H, W, 2) or (N, H, W, 2) numpy array, or (2, H, W) or (N, 2, H, W) tensor; (x, y) in px.

    Returns:
        uint8 (H, W, 3) or (N, H, W, 3) RGB; white where the flow is zero.
    """
    if isinstance(flow, torch.Tensor):
        field = flow.detach().float().cpu()
        if field.dim() not in (3, 4) or field.shape[-3] != 2:
            raise ValueError(f'a flow tensor must be (2, H, W) or (N, 2, H, W); got {tuple(field.shape)}')
    else:
        array = np.asarray(flow, np.float32)
        if array.ndim not in (3, 4) or array.shape[-1] != 2:
            raise ValueError(f'a flow array must be (H, W, 2) or (N, H, W, 2); got {array.shape}')
        field = torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, -3)))
    if field.dim() == 3:
        return flow_to_image(field).permute(1, 2, 0).numpy()
    return np.stack([flow_to_image(one).permute(1, 2, 0).numpy() for one in field]) if len(field) else \
        np.zeros((0, *field.shape[-2:], 3), np.uint8)


def video_flow_images(frames: np.ndarray, preset: str = 'medium', last_frame: str = 'backward',
                      size: Optional[tuple] = None) -> np.ndarray:
    """One RAFT-style flow image per frame of a video, from DIS flow between consecutive frames.

    Args:
        frames: (T, H, W, 3) uint8 RGB.
        preset: DIS preset (:data:`seg.utils.optical_flow.DIS_PRESETS`).
        last_frame: ``backward`` (flow from the last frame to the one before) or ``previous`` (the
            image of the frame before); see the module docstring.
        size: (h, w) to compute the flow at (the frames are resized with area averaging and the
            images returned at that size; rendering is scale-free, as it normalises each field);
            ``None`` for the frames' size.

    Returns:
        (T, H, W, 3) uint8 RGB (or (T, h, w, 3) with ``size``); a single frame gets a white image.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f'frames must be (T, H, W, 3) uint8 RGB; got {frames.shape} {frames.dtype}')
    if last_frame not in LAST_FRAME_MODES:
        raise ValueError(f'last_frame must be one of {LAST_FRAME_MODES}, got {last_frame!r}')
    dis = dis_optical_flow(preset)
    if size is not None:
        frames = np.stack([cv2.resize(f, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)
                           for f in frames])
    num_frames, height, width = frames.shape[:3]
    if num_frames == 1:
        return np.full((1, height, width, 3), 255, np.uint8)
    greys = [rgb_to_grey(f) for f in frames]
    images = [render_flow(dis.calc(greys[t], greys[t + 1], None)) for t in range(num_frames - 1)]
    if last_frame == 'backward':
        images.append(render_flow(dis.calc(greys[-1], greys[-2], None)))
    else:
        images.append(images[-1].copy())
    return np.stack(images)
