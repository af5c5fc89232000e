"""RAFT's feature and context encoders: residual CNNs from an image to 1/8-resolution features.

raft-things uses :class:`BasicEncoder` (residual blocks of 64, 96, 128 channels),
raft-small :class:`SmallEncoder` (bottleneck blocks of 32, 64, 96 channels).
Attribute names follow the official state_dict (``conv1``, ``norm1``,
``layer{1,2,3}.{0,1}.*``, ``conv2``). A strided block's shortcut norm is
registered once, as ``downsample.1``; the official code registers the same module
a second time (``norm3`` / ``norm4``), see
:func:`seg.models.flow.raft.raft_state_dict` for reading such checkpoints.
"""
from typing import Tuple

import torch.nn as nn
from torch import Tensor

#: Normalisations the RAFT encoders use: running-stat BatchNorm (cnet of
#: raft-things), InstanceNorm without affine parameters (fnet) or none (cnet of raft-small).
NORM_TYPES = ('batch', 'instance', 'none')
#: Total stride of both encoders: features live on a 1/8 grid.
ENCODER_STRIDE = 8


def build_norm(norm_fn: str, channels: int) -> nn.Module:
    """A norm layer of type ``norm_fn`` (one of :data:`NORM_TYPES`) for ``channels`` channels."""
    if norm_fn == 'batch':
        return nn.BatchNorm2d(channels)
    if norm_fn == 'instance':
        return nn.InstanceNorm2d(channels)
    if norm_fn == 'none':
        return nn.Identity()
    raise ValueError(f'RAFT encoder norm_fn must be one of {NORM_TYPES}, got {norm_fn!r}')


class ResidualBlock(nn.Module):
    """Two 3x3 convs with norm and ReLU, plus a shortcut (1x1 conv + norm when strided).

    Args:
        in_channels (int): input channels.
        channels (int): output channels.
        norm_fn (str): one of :data:`NORM_TYPES`.
        stride (int): stride of the first conv and of the shortcut.
    """

    def __init__(self, in_channels: int, channels: int, norm_fn: str, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.norm1 = build_norm(norm_fn, channels)
        self.norm2 = build_norm(norm_fn, channels)
        self.downsample = None if stride == 1 else nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride), build_norm(norm_fn, channels))

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, H, W) -> (N, channels, H/stride, W/stride)."""
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(x + y)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 -> 1x1 convs (channels/4 inside) with norm and ReLU, plus a shortcut as in :class:`ResidualBlock`.

    Args:
        in_channels (int): input channels.
        channels (int): output channels.
        norm_fn (str): one of :data:`NORM_TYPES`.
        stride (int): stride of the 3x3 conv and of the shortcut.
    """

    def __init__(self, in_channels: int, channels: int, norm_fn: str, stride: int = 1) -> None:
        super().__init__()
        inner = channels // 4
        self.conv1 = nn.Conv2d(in_channels, inner, kernel_size=1, padding=0)
        self.conv2 = nn.Conv2d(inner, inner, kernel_size=3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(inner, channels, kernel_size=1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.norm1 = build_norm(norm_fn, inner)
        self.norm2 = build_norm(norm_fn, inner)
        self.norm3 = build_norm(norm_fn, channels)
        self.downsample = None if stride == 1 else nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride), build_norm(norm_fn, channels))

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, H, W) -> (N, channels, H/stride, W/stride)."""
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        y = self.relu(self.norm3(self.conv3(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(x + y)


class _Encoder(nn.Module):
    """7x7 stride-2 stem, three stages of two blocks (strides 1, 2, 2), 1x1 output conv, optional dropout.

    Args:
        block (type): :class:`ResidualBlock` or :class:`BottleneckBlock`.
        stage_channels (tuple): channels of the stem and stage 1, stage 2, stage 3.
        output_dim (int): output channels.
        norm_fn (str): one of :data:`NORM_TYPES`.
        dropout (float): channel dropout (``Dropout2d``) on the output, in training only.
    """

    def __init__(self, block: type, stage_channels: Tuple[int, int, int], output_dim: int, norm_fn: str,
                 dropout: float) -> None:
        super().__init__()
        stem_channels = stage_channels[0]
        self.conv1 = nn.Conv2d(3, stem_channels, kernel_size=7, stride=2, padding=3)
        self.norm1 = build_norm(norm_fn, stem_channels)
        self.relu1 = nn.ReLU(inplace=True)
        in_channels = stem_channels
        for index, (channels, stride) in enumerate(zip(stage_channels, (1, 2, 2)), start=1):
            stage = nn.Sequential(block(in_channels, channels, norm_fn, stride=stride),
                                  block(channels, channels, norm_fn, stride=1))
            self.add_module(f'layer{index}', stage)
            in_channels = channels
        self.conv2 = nn.Conv2d(in_channels, output_dim, kernel_size=1)
        self.dropout = nn.Dropout2d(p=dropout) if dropout > 0 else None
        self._init_weights()

    def _init_weights(self) -> None:
        """The official initialisation: Kaiming-normal (fan_out, ReLU) convs, unit-scale zero-shift norms."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def forward(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) images in [-1, 1] -> (N, output_dim, H/8, W/8) features (H, W multiples of 8)."""
        x = self.relu1(self.norm1(self.conv1(images)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.conv2(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return x


class BasicEncoder(_Encoder):
    """raft-things encoder: :class:`ResidualBlock` stages of 64, 96 and 128 channels."""

    def __init__(self, output_dim: int, norm_fn: str, dropout: float = 0.0) -> None:
        super().__init__(ResidualBlock, (64, 96, 128), output_dim, norm_fn, dropout)


class SmallEncoder(_Encoder):
    """raft-small encoder: :class:`BottleneckBlock` stages of 32, 64 and 96 channels."""

    def __init__(self, output_dim: int, norm_fn: str, dropout: float = 0.0) -> None:
        super().__init__(BottleneckBlock, (32, 64, 96), output_dim, norm_fn, dropout)
