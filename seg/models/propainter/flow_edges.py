"""Edge maps of optical flows, the targets of the flow completion net's edge branch (official stage 1).

The official trainer takes the flow magnitude, scales it by its largest value
over the batch and runs Kornia's Canny detector on it (Gaussian 5x5 with sigma 2,
unnormalised Sobel gradients, non-maximum suppression over 8 directions, hysteresis
between 0.1 and 0.2). The edges are targets only, so this runs without gradients.
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor

#: Canny settings of the official ``core/trainer_flow_w_edge.py``.
GAUSSIAN_SIZE = 5
GAUSSIAN_SIGMA = 2.0
LOW_THRESHOLD = 0.1
HIGH_THRESHOLD = 0.2
#: Flows whose largest magnitude over the batch is below this many pixels count as still: no edges.
STILL_FLOW = 1.0
#: Keeps the gradient magnitude's square root away from 0 (as Kornia).
MAGNITUDE_EPS = 1e-6
# Offsets (dy, dx) of the 8 neighbours, in the order of gradient angles 0, 45, ..., 315 degrees.
_NEIGHBOURS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))


def _neighbour_kernels(centre: float, neighbour: float, like: Tensor) -> Tensor:
    """(8, 1, 3, 3) kernels: ``centre`` at the middle, ``neighbour`` at the neighbour of each direction."""
    kernels = torch.zeros(len(_NEIGHBOURS), 1, 3, 3, dtype=like.dtype, device=like.device)
    for index, (dy, dx) in enumerate(_NEIGHBOURS):
        kernels[index, 0, 1, 1] = centre
        kernels[index, 0, 1 + dy, 1 + dx] = neighbour
    return kernels


def _gaussian_blur(image: Tensor) -> Tensor:
    """Separable Gaussian blur with reflected borders; (N, 1, H, W) -> (N, 1, H, W)."""
    offsets = torch.arange(GAUSSIAN_SIZE, dtype=image.dtype, device=image.device) - GAUSSIAN_SIZE // 2
    weights = torch.exp(-offsets ** 2 / (2 * GAUSSIAN_SIGMA ** 2))
    weights = weights / weights.sum()
    radius = GAUSSIAN_SIZE // 2
    padded = F.pad(image, (radius, radius, radius, radius), mode='reflect')
    blurred = F.conv2d(padded, weights.view(1, 1, 1, -1))
    return F.conv2d(blurred, weights.view(1, 1, -1, 1))


def canny(image: Tensor) -> Tensor:
    """Canny edges of a one-channel image, as Kornia's ``canny`` with the official settings.

    Args:
        image: (N, 1, H, W) float intensities, e.g. in [0, 1].

    Returns:
        Tensor: (N, 1, H, W) float 0/1 edge map, same dtype as ``image``.
    """
    blurred = _gaussian_blur(image)
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=image.dtype,
                           device=image.device)
    sobel = torch.stack([sobel_x, sobel_x.t()])[:, None]
    gradients = F.conv2d(F.pad(blurred, (1, 1, 1, 1), mode='replicate'), sobel)
    gx, gy = gradients[:, :1], gradients[:, 1:]
    magnitude = torch.sqrt(gx * gx + gy * gy + MAGNITUDE_EPS)
    direction = torch.round(torch.atan2(gy, gx) * (180.0 / math.pi) / 45.0)
    forward_index = (direction % 8).long()
    backward_index = ((direction + 4) % 8).long()
    differences = F.conv2d(magnitude, _neighbour_kernels(1.0, -1.0, image), padding=1)
    is_max = torch.minimum(differences.gather(1, forward_index), differences.gather(1, backward_index)) > 0
    magnitude = magnitude * is_max
    strong = (magnitude > HIGH_THRESHOLD).to(image.dtype)
    weak = (magnitude > LOW_THRESHOLD).to(image.dtype) - strong
    neighbours = _neighbour_kernels(0.0, 1.0, image)
    while True:
        touches_strong = (F.conv2d(strong, neighbours, padding=1) > 0).any(1, keepdim=True).to(image.dtype)
        grown = strong + weak * touches_strong * (1 - strong)
        if torch.equal(grown, strong):
            return strong
        strong = grown


@torch.no_grad()
def flow_edges(flows: Tensor) -> Tensor:
    """Edges of flows the official way: Canny on the magnitude scaled by its batch maximum.

    Args:
        flows: (B, N, 2, H, W) flows in pixels.

    Returns:
        Tensor: (B, N, 1, H, W) float32 0/1; all zero when the largest magnitude
        in ``flows`` is below :data:`STILL_FLOW` pixel.
    """
    b, n, _, h, w = flows.shape
    magnitude = flows.float().reshape(-1, 2, h, w).norm(dim=1, keepdim=True)
    peak = magnitude.max()
    if peak < STILL_FLOW:
        return torch.zeros_like(magnitude).view(b, n, 1, h, w)
    return canny(magnitude / peak).view(b, n, 1, h, w)
