"""``mmcv.ops.roi_pool``: ``roi_pool`` and ``RoIPool`` (max pooling over RoI bins) in PyTorch.

Not ``torchvision.ops.roi_pool``: torchvision rounds the scaled RoI corners to
integers and spans ``round(x2 * s) - round(x1 * s) + 1`` pixels, while mmcv's
kernel keeps them continuous: the RoI spans ``[x1 * s, (x2 + 1) * s)``, bin
``i`` of ``n`` covers pixels ``floor(x1 * s + i * w / n)`` to
``ceil(x1 * s + (i + 1) * w / n)`` (clipped to the image), so the two disagree
whenever ``x * s`` is not an integer.  This file follows mmcv: an empty bin
or an RoI with non-positive size gives 0, and the gradient goes to the first
maximum in row-major order.
"""
from typing import Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.utils import _pair

#: Largest number of gathered values held at once (RoIs are processed in chunks below it).
_CHUNK_ELEMENTS = 1 << 24


def _bin_edges(start: Tensor, size: Tensor, bins: int, limit: int) -> Tuple[Tensor, Tensor]:
    """First and one-past-last pixel of each bin along one axis, clipped to ``[0, limit]``.

    Args:
        start (Tensor): (R,) RoI start in feature pixels.
        size (Tensor): (R,) RoI extent in feature pixels.
        bins (int): bins along the axis.
        limit (int): feature size along the axis.

    Returns:
        tuple[Tensor, Tensor]: (R, bins) int64 ``first`` and ``end``.
    """
    step = (size / bins)[:, None]
    index = torch.arange(bins, device=start.device, dtype=start.dtype)
    first = torch.floor(index * step + start[:, None]).long().clamp(0, limit)
    end = torch.ceil((index + 1) * step + start[:, None]).long().clamp(0, limit)
    return first, end


def roi_pool(input: Tensor,
             rois: Tensor,
             output_size: Union[int, Tuple[int, int]],
             spatial_scale: float = 1.0) -> Tensor:
    """Max-pool each RoI into a fixed grid of bins, with mmcv's bin boundaries.

    Args:
        input (Tensor): (N, C, H, W) features.
        rois (Tensor): (R, 5) ``batch_index, x1, y1, x2, y2`` (inclusive corners) in
            input-image coordinates.
        output_size (int | tuple[int, int]): bins per RoI (height, width).
        spatial_scale (float): factor from RoI to feature coordinates.

    Returns:
        Tensor: (R, C, out_h, out_w) pooled features.
    """
    assert rois.size(1) == 5, 'RoI must be (idx, x1, y1, x2, y2)!'
    out_h, out_w = _pair(output_size)
    _, channels, height, width = input.shape
    if rois.size(0) == 0:
        return input.new_zeros((0, channels, out_h, out_w))
    rois = rois.to(input.dtype)
    batch = rois[:, 0].long()
    x1, y1 = rois[:, 1] * spatial_scale, rois[:, 2] * spatial_scale
    x2, y2 = (rois[:, 3] + 1) * spatial_scale, (rois[:, 4] + 1) * spatial_scale
    valid = ((x2 - x1) > 0) & ((y2 - y1) > 0)
    row_first, row_end = _bin_edges(y1, y2 - y1, out_h, height)
    col_first, col_end = _bin_edges(x1, x2 - x1, out_w, width)
    row_end = torch.where(valid[:, None], row_end, row_first)
    col_end = torch.where(valid[:, None], col_end, col_first)
    rows_per_bin = max(int((row_end - row_first).max()), 1)
    cols_per_bin = max(int((col_end - col_first).max()), 1)

    rows = row_first[..., None] + torch.arange(rows_per_bin, device=input.device)  # (R, out_h, kh)
    cols = col_first[..., None] + torch.arange(cols_per_bin, device=input.device)  # (R, out_w, kw)
    row_inside = (rows < row_end[..., None])[:, :, None, :, None]
    inside = row_inside & (cols < col_end[..., None])[:, None, :, None, :]
    pixel = ((batch[:, None, None] * height + rows.clamp(max=height - 1))[:, :, None, :, None] * width
             + cols.clamp(max=width - 1)[:, None, :, None, :])  # (R, out_h, out_w, kh, kw)
    pixel = pixel.flatten(3)
    inside = inside.flatten(3)
    empty = ~inside.any(-1)

    features = input.permute(0, 2, 3, 1).reshape(-1, channels)
    per_roi = out_h * out_w * rows_per_bin * cols_per_bin * channels
    chunk = max(1, _CHUNK_ELEMENTS // per_roi)
    pooled = []
    for lo in range(0, rois.size(0), chunk):
        values = features[pixel[lo:lo + chunk]]  # (r, out_h, out_w, kh * kw, C)
        values = values.masked_fill(~inside[lo:lo + chunk, ..., None], float('-inf'))
        best = values.max(dim=3).values
        pooled.append(best.masked_fill(empty[lo:lo + chunk, ..., None], 0.))
    return torch.cat(pooled).permute(0, 3, 1, 2).contiguous()


class RoIPool(nn.Module):
    """RoI max pooling layer with mmcv's bin boundaries.

    Args:
        output_size (int | tuple[int, int]): bins per RoI (height, width).
        spatial_scale (float): factor from RoI to feature coordinates.
    """

    def __init__(self, output_size: Union[int, Tuple[int, int]], spatial_scale: float = 1.0) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        """Pool ``rois`` from ``input``.

        Args:
            input (Tensor): (N, C, H, W) features.
            rois (Tensor): (R, 5) ``batch_index, x1, y1, x2, y2``.

        Returns:
            Tensor: (R, C, out_h, out_w) pooled features.
        """
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(output_size={self.output_size}, '
                f'spatial_scale={self.spatial_scale})')
