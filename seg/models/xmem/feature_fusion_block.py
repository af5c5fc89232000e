"""XMem's fusion of image features with per-object features."""
import torch.nn as nn
from torch import Tensor

from .cbam import CBAM
from .group_layers import GroupResBlock, broadcast_to_groups


class FeatureFusionBlock(nn.Module):
    """Concatenate image and object features, residual block, CBAM residual, residual block.

    Args:
        x_in_dim: channels of the image features (B, Cx, H, W).
        g_in_dim: channels of the object features (B, N, Cg, H, W).
        g_mid_dim: width after the first block (and of the attention).
        g_out_dim: output channels.
    """

    def __init__(self, x_in_dim: int, g_in_dim: int, g_mid_dim: int, g_out_dim: int):
        super().__init__()
        self.block1 = GroupResBlock(x_in_dim + g_in_dim, g_mid_dim)
        self.attention = CBAM(g_mid_dim)
        self.block2 = GroupResBlock(g_mid_dim, g_out_dim)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        """(B, Cx, H, W) and (B, N, Cg, H, W) → (B, N, g_out_dim, H, W)."""
        g = self.block1(broadcast_to_groups(x, g))
        r = self.attention(g.flatten(0, 1)).unflatten(0, g.shape[:2])
        return self.block2(g + r)
