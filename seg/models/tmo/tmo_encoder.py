"""TMO's encoder (appearance or motion stream): torchvision ResNet-101 on [0, 1] RGB, normalised inside."""
from typing import Dict

import torch
import torch.nn as nn
from torch import Tensor
from torchvision.models import resnet101

#: ImageNet statistics, stored as the ``mean`` / ``std`` buffers of TMO's checkpoints.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TMOEncoder(nn.Module):
    """ResNet-101 features at strides 4, 8, 16, 32 (256 / 512 / 1024 / 2048 channels).

    Forward: (B, 3, H, W) in [0, 1] (an RGB frame or a flow image) → dict ``s4``, ``s8``, ``s16``, ``s32``.
    """

    def __init__(self):
        super().__init__()
        net = resnet101(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: Tensor) -> Dict[str, Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1((image - self.mean) / self.std))))
        s4 = self.layer1(x)
        s8 = self.layer2(s4)
        s16 = self.layer3(s8)
        return dict(s4=s4, s8=s8, s16=s16, s32=self.layer4(s16))
