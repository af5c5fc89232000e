"""YOSO's lightweight deformable top-down aggregation (``LiteDeformConv``).

Four backbone levels (strides 4, 8, 16, 32) are fused top-down: each level is
halved in channels by a 1×1 lateral conv, the coarser sum is upsampled ×2 by a
:class:`DeformUpsample` (modulated 3×3 deform conv → norm → ReLU → 4×4
transposed conv → norm → ReLU) and added.  The four sums are then projected to
``agg_dim`` channels, resized to stride 4, added to a learnt bias and refined by
a 3×3 conv.  Attribute names follow the official state_dict (``deconv.*`` in
``YOSONeck``).
"""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import kaiming_init
from torch import Tensor

from seg.ops import ModulatedDeformConv2d
from mmdet.utils import ConfigType

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
    """Top-down deformable fusion of four backbone levels into one stride-4 map.

    Args:
        agg_dim: channels of the fused output.
        backbone_shape: channels of the stride 4, 8, 16, 32 inputs.
        norm_cfg: norm used inside the :class:`DeformUpsample` blocks.
    """

    def __init__(self, agg_dim: int, backbone_shape: Sequence[int], norm_cfg: ConfigType = dict(type='SyncBN')):
        super().__init__()
        if len(backbone_shape) != 4:
            raise ValueError(f'LiteDeformConv fuses 4 backbone levels; backbone_shape={list(backbone_shape)}')
        c2, c3, c4, c5 = (c // 2 for c in backbone_shape)
        self.lateral_conv0 = nn.Conv2d(backbone_shape[3], c5, kernel_size=1)
        self.deform_conv1 = DeformUpsample(c5, c4, norm_cfg)
        self.lateral_conv1 = nn.Conv2d(backbone_shape[2], c4, kernel_size=1)
        self.deform_conv2 = DeformUpsample(c4, c3, norm_cfg)
        self.lateral_conv2 = nn.Conv2d(backbone_shape[1], c3, kernel_size=1)
        self.deform_conv3 = DeformUpsample(c3, c2, norm_cfg)
        self.lateral_conv3 = nn.Conv2d(backbone_shape[0], c2, kernel_size=1)
        self.output_conv = nn.Conv2d(agg_dim, agg_dim, kernel_size=3, padding=1)
        self.bias = nn.Parameter(torch.zeros(1, agg_dim, 1, 1))
        self.conv_a5 = nn.Conv2d(c5, agg_dim, kernel_size=1, bias=False)
        self.conv_a4 = nn.Conv2d(c4, agg_dim, kernel_size=1, bias=False)
        self.conv_a3 = nn.Conv2d(c3, agg_dim, kernel_size=1, bias=False)
        self.conv_a2 = nn.Conv2d(c2, agg_dim, kernel_size=1, bias=False)

    def forward(self, feats: List[Tensor]) -> Tuple[Tensor, Tuple[Tensor, Tensor, Tensor]]:
        """Fuse ``[c2, c3, c4, c5]`` (strides 4–32; each level exactly twice the next one's size).

        Returns:
            The fused (B, agg_dim, H/4, W/4) map and the projected coarser sums
            (x5, x4, x3), each (B, agg_dim, ·, ·) at its own stride.
        """
        x5 = self.lateral_conv0(feats[3])
        x4 = self.lateral_conv1(feats[2]) + self.deform_conv1(x5)
        x3 = self.lateral_conv2(feats[1]) + self.deform_conv2(x4)
        x2 = self.lateral_conv3(feats[0]) + self.deform_conv3(x3)
        x5, x4, x3 = self.conv_a5(x5), self.conv_a4(x4), self.conv_a3(x3)
        up5, up4, up3 = (F.interpolate(level, scale_factor=factor, mode='bilinear', align_corners=False)
                         for level, factor in ((x5, 8), (x4, 4), (x3, 2)))
        fused = up5 + up4 + up3 + self.conv_a2(x2) + self.bias
        return self.output_conv(fused), (x5, x4, x3)
