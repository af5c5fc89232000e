"""Deformable convolution in plain PyTorch: bilinear sampling with ``F.grid_sample``, then a matmul.

Used when ``torchvision.ops.deform_conv2d`` is unavailable.  The sampling
matches mmcv's ``deformable_im2col`` kernel: a kernel tap of output pixel
``(y, x)`` reads the input at ``(y * stride - pad + i * dilation + dy,
x * stride - pad + j * dilation + dx)``, bilinearly, with zeros outside the
image (a point at or beyond ``-1`` / ``size`` reads 0).

``grid_sample`` takes normalised coordinates.  The input is zero-padded on the
bottom/right to power-of-two sizes so that the round trip pixel -> normalised ->
pixel is exact for integer (and half-integer) positions: sampling points that
lie on the pixel grid (zero offsets, as after DCN's init) then pick the same
bilinear cell as mmcv, and so get the same offset gradients.  The padding only
adds zeros, which is what the kernel reads outside the image anyway.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.utils import _pair

IntPair = Union[int, Tuple[int, int]]


def _next_pow2(n: int) -> int:
    """Smallest power of two >= ``n``."""
    return 1 << max(n - 1, 0).bit_length()


def deform_conv_output_size(in_size: Tuple[int, int], kernel_size: Tuple[int, int],
                            stride: Tuple[int, int], padding: Tuple[int, int],
                            dilation: Tuple[int, int]) -> Tuple[int, int]:
    """Output height and width of a (deformable) convolution, raising if not positive.

    Args:
        in_size (tuple[int, int]): input height, width.
        kernel_size (tuple[int, int]): kernel height, width.
        stride, padding, dilation (tuple[int, int]): per-dimension hyper-parameters.

    Returns:
        tuple[int, int]: output height, width.
    """
    out = tuple((size + 2 * p - (d * (k - 1) + 1)) // s + 1
                for size, k, s, p, d in zip(in_size, kernel_size, stride, padding, dilation))
    if min(out) <= 0:
        raise ValueError(f'convolution input is too small (output would be {out[0]}x{out[1]})')
    return out


def deform_conv2d_sampling(input: Tensor,
                           offset: Tensor,
                           weight: Tensor,
                           bias: Optional[Tensor] = None,
                           stride: IntPair = 1,
                           padding: IntPair = 0,
                           dilation: IntPair = 1,
                           groups: int = 1,
                           deform_groups: int = 1,
                           mask: Optional[Tensor] = None) -> Tensor:
    """Deformable convolution (v1, or v2 with ``mask``) with ``F.grid_sample``.

    Args:
        input (Tensor): (N, C_in, H, W) input.
        offset (Tensor): (N, deform_groups * 2 * kh * kw, H_out, W_out); for each deform
            group and kernel tap ``i * kw + j``, the pair ``(dy, dx)``.
        weight (Tensor): (C_out, C_in // groups, kh, kw) weights.
        bias (Tensor, optional): (C_out,) bias.
        stride, padding, dilation (int | tuple[int, int]): as in ``nn.Conv2d``.
        groups (int): convolution groups.
        deform_groups (int): groups of input channels that share offsets (and masks).
        mask (Tensor, optional): (N, deform_groups * kh * kw, H_out, W_out) modulation
            scalars, one per sampled point.

    Returns:
        Tensor: (N, C_out, H_out, W_out) output.
    """
    n, c_in, height, width = input.shape
    c_out, _, kh, kw = weight.shape
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    out_h, out_w = deform_conv_output_size((height, width), (kh, kw), stride, padding, dilation)
    taps = kh * kw
    assert c_in % deform_groups == 0 and c_in % groups == 0 and c_out % groups == 0
    assert offset.shape == (n, deform_groups * 2 * taps, out_h, out_w), \
        f'offset shape {tuple(offset.shape)} does not match (N, {deform_groups * 2 * taps}, {out_h}, {out_w})'

    coords = dict(device=offset.device, dtype=offset.dtype)
    tap_y = (torch.arange(kh, **coords) * dilation[0]).repeat_interleave(kw)
    tap_x = (torch.arange(kw, **coords) * dilation[1]).repeat(kh)
    row = torch.arange(out_h, **coords) * stride[0] - padding[0]
    col = torch.arange(out_w, **coords) * stride[1] - padding[1]
    base_y = tap_y.view(taps, 1, 1) + row.view(1, out_h, 1)
    base_x = tap_x.view(taps, 1, 1) + col.view(1, 1, out_w)
    offset = offset.reshape(n, deform_groups, taps, 2, out_h, out_w)
    pos_y = base_y + offset[:, :, :, 0]
    pos_x = base_x + offset[:, :, :, 1]

    padded_h, padded_w = _next_pow2(height), _next_pow2(width)
    grid = torch.stack([(2 * pos_x + 1) / padded_w - 1, (2 * pos_y + 1) / padded_h - 1], dim=-1)
    grid = grid.view(n * deform_groups, taps, out_h * out_w, 2)
    padded = F.pad(input, (0, padded_w - width, 0, padded_h - height))
    padded = padded.reshape(n * deform_groups, c_in // deform_groups, padded_h, padded_w)
    columns = F.grid_sample(padded, grid, mode='bilinear', padding_mode='zeros',
                            align_corners=False)
    if mask is not None:
        assert mask.shape == (n, deform_groups * taps, out_h, out_w), \
            f'mask shape {tuple(mask.shape)} does not match (N, {deform_groups * taps}, {out_h}, {out_w})'
        columns = columns * mask.reshape(n * deform_groups, 1, taps, out_h * out_w)

    columns = columns.reshape(n, groups, c_in // groups * taps, out_h * out_w)
    out = torch.matmul(weight.reshape(groups, c_out // groups, -1), columns)
    out = out.reshape(n, c_out, out_h, out_w)
    if bias is not None:
        out = out + bias.view(1, c_out, 1, 1)
    return out
