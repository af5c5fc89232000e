"""YOSO's neck: deformable top-down fusion to one stride-4 map with coordinates."""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmdet.utils import ConfigType
from torch import Tensor

from seg.models.layers.lite_deform_conv import LiteDeformConv
from seg.registry import MODELS


@MODELS.register_module()
class YOSONeck(nn.Module):
    """Fuse backbone levels into the single stride-4 feature map RapSAM's head decodes.

    The fused map (``agg_dim`` channels) gets two coordinate channels, x then y,
    each ``linspace(-1, 1)`` over the map, and a 1×1 conv to ``hidden_dim``.

    Args:
        agg_dim: channels of the fused map before the coordinates.
        hidden_dim: output channels.
        backbone_shape: channels of the four backbone outputs (strides 4, 8, 16, 32).
        norm_cfg: norm of the deformable upsampling blocks. ``SyncBN`` (ours)
            runs in one process and on CPU as plain batch norm.
    """

    def __init__(self,
                 agg_dim: int,
                 hidden_dim: int,
                 backbone_shape: Sequence[int],
                 norm_cfg: ConfigType = dict(type='SyncBN')):
        super().__init__()
        self.deconv = LiteDeformConv(agg_dim, backbone_shape, norm_cfg)
        self.loc_conv = nn.Conv2d(agg_dim + 2, hidden_dim, kernel_size=1)
        self.init_weights()

    def init_weights(self) -> None:
        """Xavier-uniform for every weight with more than one dimension."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    @staticmethod
    def coordinates(feat: Tensor) -> Tensor:
        """(B, 2, H, W) x and y grids in [-1, 1] matching ``feat`` (B, C, H, W)."""
        b, _, h, w = feat.shape
        y, x = torch.meshgrid(torch.linspace(-1, 1, h, device=feat.device, dtype=feat.dtype),
                              torch.linspace(-1, 1, w, device=feat.device, dtype=feat.dtype), indexing='ij')
        return torch.stack([x, y])[None].expand(b, -1, -1, -1)

    def forward(self, feats: List[Tensor]) -> Tensor:
        """``[c2, c3, c4, c5]`` backbone maps → (B, hidden_dim, H/4, W/4) features."""
        fused, _ = self.deconv(feats)
        return self.loc_conv(torch.cat([fused, self.coordinates(fused)], dim=1))
