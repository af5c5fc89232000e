"""YOSO's lightweight deformable top-down aggregation (``LiteDeformConv``).

Consecutive backbone levels (YOSO: four, strides 4, 8, 16, 32) are fused
top-down: each level is halved in channels by a 1×1 lateral conv, the coarser
sum is upsampled ×2 by a :class:`DeformUpsample` (modulated 3×3 deform conv →
norm → ReLU → 4×4 transposed conv → norm → ReLU) and added.  The sums are then
projected to ``agg_dim`` channels, resized bilinearly to stride 4, added to a
learnt bias and refined by a 3×3 conv.  Attribute names follow the official
state_dict (``deconv.*`` in ``YOSONeck``).
"""
import math
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import kaiming_init
from torch import Tensor

from seg.ops import ModulatedDeformConv2d
from mmdet.utils import ConfigType

#: Stride (input pixels per feature pixel) of the fused output.
OUTPUT_STRIDE = 4
# 3×3 kernel: 9 taps × (dy, dx) offsets + 9 modulation scalars.
_OFFSET_CHANNELS = 27


class DeformUpsample(nn.Module):
    """Modulated deform conv then ×2 transposed-conv upsampling (official ``DeformLayer``).

    Args:
        in_channels: channels of the input map.
        out_channels: channels of the output map (twice the input's resolution).
        norm_cfg: norm after the deform conv and after the upsampling.
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: ConfigType = dict(type='SyncBN')):
        super().__init__()
        self.dcn_offset = nn.Conv2d(in_channels, _OFFSET_CHANNELS, kernel_size=3, padding=1)
        self.dcn = ModulatedDeformConv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.dcn_bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.up_sample = nn.ConvTranspose2d(out_channels, out_channels, kernel_size=4, stride=2, padding=1,
                                            bias=False)
        self.up_bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.relu = nn.ReLU()
        self._init_weights()

    def _init_weights(self) -> None:
        kaiming_init(self.dcn)
        nn.init.zeros_(self.dcn_offset.weight)
        nn.init.zeros_(self.dcn_offset.bias)
        # Bilinear-interpolation kernel in every output channel's first input slot.
        weight = self.up_sample.weight.data
        k = weight.size(2)
        f = math.ceil(k / 2)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        taps = torch.tensor([1 - abs(i / f - c) for i in range(k)], dtype=weight.dtype)
        weight[:, 0] = taps[:, None] * taps[None, :]

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) → (B, C_out, 2H, 2W)."""
        offset_mask = self.dcn_offset(x)
        # mmcv's offset layout: 18 channels, (dy, dx) interleaved per tap.
        offset = offset_mask[:, :2 * _OFFSET_CHANNELS // 3]
        mask = offset_mask[:, 2 * _OFFSET_CHANNELS // 3:].sigmoid()
        x = self.relu(self.dcn_bn(self.dcn(x, offset, mask)))
        return self.relu(self.up_bn(self.up_sample(x)))


class LiteDeformConv(nn.Module):
    """Top-down deformable fusion of consecutive backbone levels into one stride-4 map.

    Submodules are named from the coarsest level down: ``lateral_conv0`` reads
    the coarsest input, ``deform_conv{j}``/``lateral_conv{j}`` add the j-th
    finer one, and ``conv_a{k}`` projects the sum at stride ``2**k``.  With the
    defaults and four levels this is the official layout exactly.

    Args:
        agg_dim: channels of the fused output.
        backbone_shape: channels of the inputs, finest first; at least two
            levels, each at twice the stride of the one before.
        norm_cfg: norm used inside the :class:`DeformUpsample` blocks.
        finest_stride: stride (input pixels per feature pixel) of the first
            input; a power of two, at least 4 (the output's stride).
    """

    def __init__(self,
                 agg_dim: int,
                 backbone_shape: Sequence[int],
                 norm_cfg: ConfigType = dict(type='SyncBN'),
                 finest_stride: int = 4):
        super().__init__()
        if len(backbone_shape) < 2:
            raise ValueError(f'LiteDeformConv fuses at least 2 backbone levels; backbone_shape={list(backbone_shape)}')
        if finest_stride < OUTPUT_STRIDE or finest_stride & (finest_stride - 1):
            raise ValueError(f'LiteDeformConv: finest_stride must be a power of two >= {OUTPUT_STRIDE}, '
                             f'got {finest_stride}')
        num_levels = len(backbone_shape)
        coarse_to_fine = list(backbone_shape)[::-1]
        halved = [c // 2 for c in coarse_to_fine]
        finest_level = finest_stride.bit_length() - 1
        #: log2 of each fused sum's stride, coarsest first (YOSO: 5, 4, 3, 2).
        self.levels = [finest_level + num_levels - 1 - j for j in range(num_levels)]
        self.lateral_conv0 = nn.Conv2d(coarse_to_fine[0], halved[0], kernel_size=1)
        for j in range(1, num_levels):
            setattr(self, f'deform_conv{j}', DeformUpsample(halved[j - 1], halved[j], norm_cfg))
            setattr(self, f'lateral_conv{j}', nn.Conv2d(coarse_to_fine[j], halved[j], kernel_size=1))
        self.output_conv = nn.Conv2d(agg_dim, agg_dim, kernel_size=3, padding=1)
        self.bias = nn.Parameter(torch.zeros(1, agg_dim, 1, 1))
        for level, channels in zip(self.levels, halved):
            setattr(self, f'conv_a{level}', nn.Conv2d(channels, agg_dim, kernel_size=1, bias=False))

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        """Fuse the input levels, finest first (YOSO: ``[c2, c3, c4, c5]``, strides 4–32).

        The first ``len(backbone_shape)`` entries are read.  Each level must be
        exactly twice the next one's size; the finest one is (B, C_0, H/s, W/s)
        for the constructor's ``finest_stride`` s.

        Returns:
            The fused (B, agg_dim, H/4, W/4) map and the projected coarser sums
            (YOSO: x5, x4, x3), coarsest first, each (B, agg_dim, ·, ·) at its
            own stride.
        """
        coarsest = len(self.levels) - 1
        x = self.lateral_conv0(feats[coarsest])
        sums = [x]
        for j in range(1, len(self.levels)):
            x = getattr(self, f'lateral_conv{j}')(feats[coarsest - j]) + getattr(self, f'deform_conv{j}')(x)
            sums.append(x)
        projected = [getattr(self, f'conv_a{level}')(x) for level, x in zip(self.levels, sums)]
        fused = None
        for level, x in zip(self.levels, projected):
            factor = 2**level // OUTPUT_STRIDE
            if factor > 1:
                x = F.interpolate(x, scale_factor=factor, mode='bilinear', align_corners=False)
            fused = x if fused is None else fused + x
        return self.output_conv(fused + self.bias), tuple(projected[:-1])
