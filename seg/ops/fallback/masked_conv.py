"""``mmcv.ops.masked_conv``: ``masked_conv2d`` and ``MaskedConv2d`` in PyTorch.

mmcv's kernel evaluates a stride-1, dilation-1, single-group convolution only
at the output pixels ``(y, x)`` where ``mask[0, y, x] > 0`` (bias included) and
leaves the others 0.  Here the full convolution is computed and then masked,
which gives the same output.  Unlike mmcv (whose backward returns no
gradients), the result is differentiable; where the output is smaller than
the mask, mask pixels beyond it are ignored (mmcv writes out of bounds).
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

IntPair = Union[int, Tuple[int, int]]


def masked_conv2d(features: Tensor,
                  mask: Tensor,
                  weight: Tensor,
                  bias: Optional[Tensor],
                  padding: IntPair = 0,
                  stride: IntPair = 1) -> Tensor:
    """Convolution evaluated where ``mask > 0``, zero elsewhere.

    Args:
        features (Tensor): (1, C_in, H, W) input (batch size 1, as mmcv requires).
        mask (Tensor): (1, H, W) mask; output pixel ``(y, x)`` is computed where it is > 0.
        weight (Tensor): (C_out, C_in, kh, kw) weights (no groups).
        bias (Tensor, optional): (C_out,) bias.
        padding (int | tuple[int, int]): zero padding.
        stride (int | tuple[int, int]): must be 1.

    Returns:
        Tensor: (1, C_out, H_out, W_out) output.
    """
    assert mask.dim() == 3 and mask.size(0) == 1
    assert features.dim() == 4 and features.size(0) == 1
    assert features.size()[2:] == mask.size()[1:]
    if _pair(stride) != (1, 1):
        raise ValueError('Stride could not only be 1 in masked_conv2d currently.')
    out = F.conv2d(features, weight, bias, stride=1, padding=_pair(padding))
    out_h, out_w = out.shape[2:]
    keep = out.new_zeros((out_h, out_w), dtype=torch.bool)
    crop = (mask[0, :out_h, :out_w] > 0)
    keep[:crop.size(0), :crop.size(1)] = crop
    return out * keep.to(out.dtype)


class MaskedConv2d(nn.Conv2d):
    """``nn.Conv2d`` that, given a mask, computes its output only where the mask is > 0.

    The masked path always uses stride 1 and dilation 1 (mmcv passes only ``padding``).

    Args:
        in_channels, out_channels (int): channels.
        kernel_size (int | tuple[int, int]): kernel size.
        stride, padding, dilation (int | tuple[int, int]), groups (int), bias (bool):
            as ``nn.Conv2d`` (used unmasked).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: IntPair,
                 stride: int = 1,
                 padding: int = 0,
                 dilation: int = 1,
                 groups: int = 1,
                 bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)

    def forward(self, input: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Plain convolution without ``mask``, else :func:`masked_conv2d` with this layer's padding.

        Args:
            input (Tensor): (N, C_in, H, W) input; N must be 1 with a mask.
            mask (Tensor, optional): (1, H, W) mask.

        Returns:
            Tensor: (N, C_out, H_out, W_out) output.
        """
        if mask is None:
            return super().forward(input)
        return masked_conv2d(input, mask, self.weight, self.bias, self.padding)
