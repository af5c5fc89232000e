"""CBAM attention (Woo et al. 2018) as XMem uses it: channel gate, then spatial gate."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

#: Hidden width of the channel gate's MLP is channels // this.
CBAM_REDUCTION = 16
#: Kernel of the spatial gate's conv.
SPATIAL_KERNEL = 7


class ChannelGate(nn.Module):
    """x · sigmoid(mlp(avg-pool x) + mlp(max-pool x)); ``mlp.1`` / ``mlp.3`` are XMem's key names."""

    def __init__(self, channels: int, reduction: int = CBAM_REDUCTION):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, channels // reduction), nn.ReLU(),
                                 nn.Linear(channels // reduction, channels))

    def forward(self, x: Tensor) -> Tensor:
        gate = self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(gate)[:, :, None, None]


class SpatialConv(nn.Module):
    """The spatial gate's conv, nested as ``spatial.conv`` like XMem's checkpoints."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, SPATIAL_KERNEL, padding=SPATIAL_KERNEL // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class SpatialGate(nn.Module):
    """x · sigmoid(conv([channel max, channel mean]))."""

    def __init__(self):
        super().__init__()
        self.spatial = SpatialConv()

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.max(dim=1, keepdim=True)[0], x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Channel then spatial attention on (B, C, H, W) features."""

    def __init__(self, channels: int):
        super().__init__()
        self.ChannelGate = ChannelGate(channels)
        self.SpatialGate = SpatialGate()

    def forward(self, x: Tensor) -> Tensor:
        return self.SpatialGate(self.ChannelGate(x))
