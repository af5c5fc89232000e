"""TMO's conv blocks and its CBAM variant (Cho et al., "Treating Motion as Option", WACV 2023 / TCSVT 2025)."""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def conv_block(in_channels: int, out_channels: int, kernel_size: int, relu: bool = False) -> nn.Sequential:
    """A same-padded conv named ``conv`` (plus ``relu``), Kaiming-uniform weights and zero bias as TMO builds them."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, 1, kernel_size // 2)
    nn.init.kaiming_uniform_(conv.weight)
    nn.init.zeros_(conv.bias)
    layers = OrderedDict(conv=conv)
    if relu:
        layers['relu'] = nn.ReLU()
    return nn.Sequential(layers)


class TMOCBAM(nn.Module):
    """TMO's CBAM: a 3×3 conv, then channel and spatial gates (both multiply).

    Channel gate sigmoid(mlp(avg-pool) + mlp(max-pool)) with mlp = 1×1 + ReLU, 1×1;
    spatial gate sigmoid(conv3([channel mean, channel max])) with conv3 = 3×3 2→16 + ReLU, 3×3 16→1.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv_block(channels, channels, 3)
        self.conv2 = nn.Sequential(conv_block(channels, channels, 1, relu=True), conv_block(channels, channels, 1))
        self.conv3 = nn.Sequential(conv_block(2, 16, 3, relu=True), conv_block(16, 1, 3))

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        x = x * torch.sigmoid(self.conv2(F.adaptive_avg_pool2d(x, 1)) + self.conv2(F.adaptive_max_pool2d(x, 1)))
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.max(dim=1, keepdim=True)[0]], dim=1)
        return x * torch.sigmoid(self.conv3(pooled))
