"""XMem's key (image) encoder: ResNet-50 up to layer3."""
from typing import Tuple

import torch.nn as nn
from torch import Tensor
from torchvision.models import resnet50


class KeyEncoder(nn.Module):
    """torchvision's ResNet-50 stem and layer1..3 (``layer1`` is stored as ``res2``, XMem's name).

    Forward: (B, 3, H, W) normalised RGB → f16 (B, 1024, H/16, W/16), f8 (B, 512, H/8, W/8),
    f4 (B, 256, H/4, W/4).
    """

    def __init__(self):
        super().__init__()
        net = resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.res2, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3

    def forward(self, image: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(image))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4
