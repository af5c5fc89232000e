"""XMem's decoder: memory readout + hidden state + skip features → per-object mask logits."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .feature_fusion_block import FeatureFusionBlock
from .group_layers import GroupResBlock, broadcast_to_groups, resize_groups
from .hidden_gru import HiddenUpdater

#: Channels of the key encoder's stride-16 features.
KEY_FEATURE_DIM = 1024
#: Width of the decoder at stride 16, then at strides 8 and 4.
DECODER_DIMS = (512, 256)
#: The decoder predicts at stride 4; logits are upsampled by this.
OUTPUT_STRIDE = 4


class UpsampleBlock(nn.Module):
    """×2 bilinear upsampling of object features plus a 3×3-projected skip feature, then a residual block."""

    def __init__(self, skip_dim: int, g_up_dim: int, g_out_dim: int, scale_factor: int = 2):
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, g_up_dim, kernel_size=3, padding=1)
        self.out_conv = GroupResBlock(g_up_dim, g_out_dim)
        self.scale_factor = scale_factor

    def forward(self, skip_f: Tensor, up_g: Tensor) -> Tensor:
        g = resize_groups(up_g, self.scale_factor, 'bilinear')
        return self.out_conv(broadcast_to_groups(self.skip_conv(skip_f), g, method='add'))


class XMemDecoder(nn.Module):
    """Fuse, upsample twice, predict one logit per object at stride 4 (then ×4 bilinear).

    Args:
        value_dim: channels of the memory readout.
        hidden_dim: hidden-state channels (0: no sensory memory).
    """

    def __init__(self, value_dim: int, hidden_dim: int):
        super().__init__()
        mid16, mid8 = DECODER_DIMS
        self.fuser = FeatureFusionBlock(KEY_FEATURE_DIM, value_dim + hidden_dim, mid16, mid16)
        self.hidden_update = (HiddenUpdater([mid16, mid8, mid8 + 1], mid8, hidden_dim) if hidden_dim > 0 else None)
        self.up_16_8 = UpsampleBlock(512, mid16, mid8)
        self.up_8_4 = UpsampleBlock(256, mid8, mid8)
        self.pred = nn.Conv2d(mid8, 1, kernel_size=3, padding=1)

    def forward(self, f16: Tensor, f8: Tensor, f4: Tensor, hidden_state: Optional[Tensor], memory_readout: Tensor,
                h_out: bool = True) -> Tuple[Optional[Tensor], Tensor]:
        """Decode.

        Args:
            f16, f8, f4: key-encoder features (B, 1024 / 512 / 256, H/16 / H/8 / H/4, ...).
            hidden_state: (B, N, hidden_dim, H/16, W/16), or None without sensory memory.
            memory_readout: (B, N, value_dim, H/16, W/16).
            h_out: compute the new hidden state (None is returned otherwise).

        Returns:
            the new hidden state and logits (B, N, H, W).
        """
        if self.hidden_update is not None:
            g16 = self.fuser(f16, torch.cat([memory_readout, hidden_state], dim=2))
        else:
            g16 = self.fuser(f16, memory_readout)
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = self.pred(F.relu(g4.flatten(0, 1)))
        if h_out and self.hidden_update is not None:
            g4 = torch.cat([g4, logits.unflatten(0, g4.shape[:2])], dim=2)
            hidden_state = self.hidden_update(g16, g8, g4, hidden_state)
        else:
            hidden_state = None
        logits = F.interpolate(logits, scale_factor=OUTPUT_STRIDE, mode='bilinear', align_corners=False)
        return hidden_state, logits.unflatten(0, g4.shape[:2]).squeeze(2)
