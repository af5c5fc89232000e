"""XMem's value (mask) encoder: ResNet-18 to layer3 on image + masks, fused with the key features."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torchvision.models import resnet18

from .feature_fusion_block import FeatureFusionBlock
from .group_layers import broadcast_to_groups
from .hidden_gru import HiddenReinforcer

#: Channels of the key encoder's stride-16 features.
KEY_FEATURE_DIM = 1024
#: Channels of ResNet-18's layer3.
VALUE_BACKBONE_DIM = 256


class ValueEncoder(nn.Module):
    """Per-object value features from [RGB, own mask, other objects' masks].

    Args:
        value_dim: output channels.
        hidden_dim: sensory-memory channels; 0 disables the deep update.
        single_object: the input is [RGB, mask] (4 channels) instead of 5.
    """

    def __init__(self, value_dim: int, hidden_dim: int, single_object: bool = False):
        super().__init__()
        self.single_object = single_object
        net = resnet18(weights=None)
        in_channels = 3 + (1 if single_object else 2)
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1, self.relu, self.maxpool = net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3
        self.fuser = FeatureFusionBlock(KEY_FEATURE_DIM, VALUE_BACKBONE_DIM, value_dim, value_dim)
        self.hidden_reinforce = HiddenReinforcer(value_dim, hidden_dim) if hidden_dim > 0 else None

    def forward(self, image: Tensor, image_feat_f16: Tensor, h: Optional[Tensor], masks: Tensor,
                others: Tensor, is_deep_update: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
        """Encode the objects of one frame.

        Args:
            image: (B, 3, H, W) normalised RGB.
            image_feat_f16: (B, 1024, H/16, W/16) key-encoder features of the same frame.
            h: (B, N, hidden_dim, H/16, W/16) hidden state.
            masks: (B, N, H, W) object probabilities; ``others`` the same shape, the sum of the others'.
            is_deep_update: refresh ``h`` from the value features.

        Returns:
            values (B, N, value_dim, H/16, W/16) and the (possibly updated) hidden state.
        """
        g = masks.unsqueeze(2) if self.single_object else torch.stack([masks, others], dim=2)
        g = broadcast_to_groups(image, g).flatten(0, 1)
        g = self.relu(self.maxpool(self.bn1(self.conv1(g))))
        g = self.layer3(self.layer2(self.layer1(g))).unflatten(0, masks.shape[:2])
        g = self.fuser(image_feat_f16, g)
        if is_deep_update and self.hidden_reinforce is not None:
            h = self.hidden_reinforce(g, h)
        return g, h
