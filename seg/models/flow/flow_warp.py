"""Backward warping of images or feature maps by a dense optical flow in pixels."""
import torch
import torch.nn.functional as F
from torch import Tensor


def flow_warp(x: Tensor, flow: Tensor, interpolation: str = 'bilinear', padding_mode: str = 'zeros') -> Tensor:
    """Sample ``x`` at every pixel ``p`` displaced by ``flow(p)``: ``out(p) = x(p + flow(p))``.

    Pixel centres sit on the integer grid (``grid_sample`` with ``align_corners=True``),
    so a flow of 0 returns ``x`` exactly.

    Args:
        x (Tensor): (N, C, H, W) image or features to warp.
        flow (Tensor): (N, H, W, 2) displacement in pixels, (x, y) in the last dimension.
        interpolation (str): ``'bilinear'`` or ``'nearest'``.
        padding_mode (str): ``grid_sample`` padding for samples outside ``x``:
            ``'zeros'``, ``'border'`` or ``'reflection'``.

    Returns:
        Tensor: (N, C, H, W) warped ``x``.
    """
    if x.shape[-2:] != flow.shape[1:3] or flow.shape[-1] != 2:
        raise ValueError(f'flow_warp needs flow of shape (N, H, W, 2) with the (H, W) of x {tuple(x.shape)}; '
                         f'got flow {tuple(flow.shape)} (permute a (N, 2, H, W) flow with .permute(0, 2, 3, 1))')
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device).to(x.dtype)
    cols = torch.arange(w, device=x.device).to(x.dtype)
    grid_y, grid_x = torch.meshgrid(rows, cols, indexing='ij')
    target = torch.stack((grid_x, grid_y), dim=2) + flow
    target_x = 2.0 * target[..., 0] / max(w - 1, 1) - 1.0
    target_y = 2.0 * target[..., 1] / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack((target_x, target_y), dim=3), mode=interpolation,
                         padding_mode=padding_mode, align_corners=True)
