"""FastSAM2's neck: YOSO's deformable FPN with configurable levels, widths, coordinates and norm."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmdet.utils import ConfigType
from torch import Tensor

from seg.models.layers.lite_deform_conv import OUTPUT_STRIDE, LiteDeformConv
from seg.models.rapsam.yoso_neck import YOSONeck
from seg.registry import MODELS


@MODELS.register_module()
class LiteDFPN(nn.Module):
    """Fuse consecutive backbone levels into one stride-4 feature map.

    :class:`YOSONeck` generalised: the levels read, their strides, the widths,
    the coordinate channels and the norm come from the config.  With
    ``in_channels`` of four levels at strides 4–32, coordinates on and the same
    ``agg_dim``/``hidden_dim``, its state_dict is YOSONeck's (same keys, order
    and shapes) and it computes the same function, so a RapSAM checkpoint's
    ``neck.*`` loads strict.

    Args:
        in_channels: channels of the levels read, finest first; at least two.
        agg_dim: channels of the fused map (before the coordinates).
        hidden_dim: output channels.
        in_indices: position of each level read in the backbone's output
            list; strictly increasing.  Default: the first ``len(in_channels)``
            outputs.
        in_strides: stride (input pixels per feature pixel) of each level read;
            powers of two from 4 up, each twice the one before.  Default:
            ``4 * 2**i`` for each ``i`` in ``in_indices``, as for a backbone
            emitting strides 4, 8, 16, 32 (ResNet/Swin with
            ``out_indices=(0, 1, 2, 3)``).  If the finest level read is
            coarser than stride 4, the fusion still resizes every level
            bilinearly to stride 4 (no extra learnt upsampling).
        with_coords: append x and y coordinate channels, each ``linspace(-1, 1)``
            over the map, before the output 1×1 conv (YOSO: on); they give the
            head's dynamic kernels a sense of position.
        norm_cfg: norm of the deformable upsampling blocks.  ``SyncBN`` (ours)
            runs in one process and on CPU as plain batch norm.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 agg_dim: int,
                 hidden_dim: int,
                 in_indices: Optional[Sequence[int]] = None,
                 in_strides: Optional[Sequence[int]] = None,
                 with_coords: bool = True,
                 norm_cfg: ConfigType = dict(type='SyncBN')):
        super().__init__()
        in_indices = list(range(len(in_channels)) if in_indices is None else in_indices)
        in_strides = list([OUTPUT_STRIDE * 2**i for i in in_indices] if in_strides is None else in_strides)
        self._check_levels(list(in_channels), in_indices, in_strides)
        self.in_indices = in_indices
        self.with_coords = with_coords
        self.deconv = LiteDeformConv(agg_dim, in_channels, norm_cfg, finest_stride=in_strides[0])
        self.loc_conv = nn.Conv2d(agg_dim + 2 if with_coords else agg_dim, hidden_dim, kernel_size=1)
        self.init_weights()

    @staticmethod
    def _check_levels(in_channels: Sequence[int], in_indices: Sequence[int], in_strides: Sequence[int]) -> None:
        """Raise ``ValueError`` naming the field when the levels read do not form a pyramid."""
        if len(in_channels) < 2:
            raise ValueError(f'LiteDFPN: in_channels must list at least 2 levels, got {in_channels}')
        if len(in_indices) != len(in_channels):
            raise ValueError(f'LiteDFPN: in_indices has {len(in_indices)} entries but in_channels has '
                             f'{len(in_channels)}: in_indices={in_indices}, in_channels={in_channels}')
        if any(i < 0 for i in in_indices) or any(b <= a for a, b in zip(in_indices, in_indices[1:])):
            raise ValueError(f'LiteDFPN: in_indices must be non-negative and strictly increasing, got {in_indices}')
        if len(in_strides) != len(in_channels):
            raise ValueError(f'LiteDFPN: in_strides has {len(in_strides)} entries but in_channels has '
                             f'{len(in_channels)}: in_strides={in_strides}, in_channels={in_channels}')
        first = in_strides[0]
        if first < OUTPUT_STRIDE or first & (first - 1) or any(b != 2 * a for a, b in zip(in_strides, in_strides[1:])):
            raise ValueError(f'LiteDFPN: in_strides must be powers of two from {OUTPUT_STRIDE} up, each twice the '
                             f'one before, got {in_strides}')

    def init_weights(self) -> None:
        """Xavier-uniform for every weight with more than one dimension (as YOSONeck)."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Backbone outputs → (B, hidden_dim, H/4, W/4) features for an (H, W) input image.

        Args:
            feats: the backbone's outputs; those at ``in_indices`` are read, the
                one at ``in_indices[k]`` being (B, in_channels[k], H/s_k, W/s_k)
                for ``s_k = in_strides[k]`` (sizes exactly halving level to level).
        """
        fused, _ = self.deconv([feats[i] for i in self.in_indices])
        if self.with_coords:
            fused = torch.cat([fused, YOSONeck.coordinates(fused)], dim=1)
        return self.loc_conv(fused)
