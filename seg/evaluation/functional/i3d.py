"""Inception-v1 I3D (Carreira & Zisserman, 2017), the video feature network of the VFID metric.

The module and parameter names are those of the PyTorch port
(piergiaj/pytorch-i3d) that E2FGVI's ``core/metrics.py`` builds as
``InceptionI3d(400, in_channels=3, final_endpoint='Logits')`` and loads
``release_model/i3d_rgb_imagenet.pt`` into, strictly: ``Conv3d_1a_7x7.conv3d.weight``,
``Conv3d_1a_7x7.bn.{weight,bias,running_mean,running_var}``, ...,
``Mixed_5c.b3b.bn.running_var``, ``logits.conv3d.{weight,bias}``. Every
convolution and pooling pads like TensorFlow's ``SAME`` (computed from the input
size, the extra pixel at the end).

VFID uses :meth:`InceptionI3d.features`: the ``Mixed_5c`` output averaged over
time and space, 1024 values per clip (the official
``extract_features(x, 'Logits')``, which never reaches the logits layer).
"""
import os.path as osp
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.fileio.checkpoint import load_local_checkpoint

__all__ = ['InceptionI3d', 'load_i3d', 'I3D_FEATURE_DIM']

#: Channels of ``Mixed_5c``: the length of the VFID feature vector.
I3D_FEATURE_DIM = 1024
#: Classes of the Kinetics-400 logits layer in ``i3d_rgb_imagenet.pt``.
KINETICS_CLASSES = 400
# BatchNorm of the TensorFlow original.
_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01

Triple = Tuple[int, int, int]

# (name, kind, arguments) in order. 'conv': (in, out, kernel, stride); 'pool': (kernel, stride);
# 'mixed': (in, (b0, b1a, b1b, b2a, b2b, b3b) output channels).
_LAYERS = (
    ('Conv3d_1a_7x7', 'conv', (3, 64, (7, 7, 7), (2, 2, 2))),
    ('MaxPool3d_2a_3x3', 'pool', ((1, 3, 3), (1, 2, 2))),
    ('Conv3d_2b_1x1', 'conv', (64, 64, (1, 1, 1), (1, 1, 1))),
    ('Conv3d_2c_3x3', 'conv', (64, 192, (3, 3, 3), (1, 1, 1))),
    ('MaxPool3d_3a_3x3', 'pool', ((1, 3, 3), (1, 2, 2))),
    ('Mixed_3b', 'mixed', (192, (64, 96, 128, 16, 32, 32))),
    ('Mixed_3c', 'mixed', (256, (128, 128, 192, 32, 96, 64))),
    ('MaxPool3d_4a_3x3', 'pool', ((3, 3, 3), (2, 2, 2))),
    ('Mixed_4b', 'mixed', (480, (192, 96, 208, 16, 48, 64))),
    ('Mixed_4c', 'mixed', (512, (160, 112, 224, 24, 64, 64))),
    ('Mixed_4d', 'mixed', (512, (128, 128, 256, 24, 64, 64))),
    ('Mixed_4e', 'mixed', (512, (112, 144, 288, 32, 64, 64))),
    ('Mixed_4f', 'mixed', (528, (256, 160, 320, 32, 128, 128))),
    ('MaxPool3d_5a_2x2', 'pool', ((2, 2, 2), (2, 2, 2))),
    ('Mixed_5b', 'mixed', (832, (256, 160, 320, 32, 128, 128))),
    ('Mixed_5c', 'mixed', (832, (384, 192, 384, 48, 128, 128))),
)
# Temporal and spatial size of the average pooling before the logits.
_LOGITS_POOL = (2, 7, 7)
_DROPOUT = 0.5


def _same_padding(x: Tensor, kernel: Triple, stride: Triple) -> Tensor:
    """Zero-pad (B, C, T, H, W) like TensorFlow ``SAME``: output size ceil(size / stride), extra pad at the end."""
    pads = []
    for size, k, s in zip(x.shape[2:], kernel, stride):
        total = max(k - (s if size % s == 0 else size % s), 0)
        pads.append((total // 2, total - total // 2))
    (t0, t1), (h0, h1), (w0, w1) = pads
    return F.pad(x, (w0, w1, h0, h1, t0, t1))


class Unit3D(nn.Module):
    """Conv3d (SAME padding, no bias unless asked) → BatchNorm3d → ReLU; parts switchable for the logits layer.

    Args:
        in_channels, out_channels: Channels.
        kernel: (t, h, w) kernel size.
        stride: (t, h, w) stride.
        batch_norm: Follow the convolution with BatchNorm3d (``bn``).
        activation: Applied last; None for none.
        bias: Give the convolution a bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: Triple = (1, 1, 1), stride: Triple = (1, 1, 1),
                 batch_norm: bool = True, activation: Optional[Callable[[Tensor], Tensor]] = F.relu,
                 bias: bool = False):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=_BN_EPS, momentum=_BN_MOMENTUM) if batch_norm else None
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(_same_padding(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return x if self.activation is None else self.activation(x)


class MaxPool3dSame(nn.Module):
    """3-D max pooling with TensorFlow ``SAME`` zero padding (inputs are post-ReLU, so zeros never win wrongly)."""

    def __init__(self, kernel: Triple, stride: Triple):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool3d(_same_padding(x, self.kernel, self.stride), self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Four parallel branches concatenated on channels: 1x1; 1x1→3x3; 1x1→3x3; 3x3 max pool→1x1.

    Args:
        in_channels: Input channels.
        out_channels: (b0, b1a, b1b, b2a, b2b, b3b) output channels; the block gives b0 + b1b + b2b + b3b.
    """

    def __init__(self, in_channels: int, out_channels: Sequence[int]):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = out_channels
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3b)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """I3D with the layer names of ``i3d_rgb_imagenet.pt`` (see the module docstring).

    Inputs are RGB clips (B, 3, T, H, W). For VFID they are in [0, 1], as the
    official evaluation feeds them (``ToTorchFormatTensor`` divides by 255 and
    nothing maps them to [-1, 1]).

    Args:
        num_classes: Outputs of the logits layer (400 in the released weights).
    """

    def __init__(self, num_classes: int = KINETICS_CLASSES):
        super().__init__()
        self.layer_names = [name for name, _, _ in _LAYERS]
        for name, kind, args in _LAYERS:
            if kind == 'conv':
                in_channels, out_channels, kernel, stride = args
                self.add_module(name, Unit3D(in_channels, out_channels, kernel, stride))
            elif kind == 'pool':
                self.add_module(name, MaxPool3dSame(*args))
            else:
                self.add_module(name, InceptionBlock(*args))
        self.avg_pool = nn.AvgPool3d(_LOGITS_POOL, stride=(1, 1, 1))
        self.dropout = nn.Dropout(_DROPOUT)
        self.logits = Unit3D(I3D_FEATURE_DIM, num_classes, batch_norm=False, activation=None, bias=True)

    def feature_map(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) → (B, 1024, ceil(T / 8), ceil(H / 32), ceil(W / 32)) ``Mixed_5c`` output."""
        for name in self.layer_names:
            x = getattr(self, name)(x)
        return x

    def features(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) → (B, 1024) ``Mixed_5c`` averaged over time, height and width (the VFID feature)."""
        # Width, then height, then time, as the official averages (the float32 sums round the same).
        return self.feature_map(x).mean(4).mean(3).mean(2)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) with T >= 9, H, W >= 193 → (B, num_classes, ceil(T / 8) - 1) class logits over time."""
        x = self.logits(self.dropout(self.avg_pool(self.feature_map(x))))
        return x.squeeze(4).squeeze(3)


def load_i3d(weights: str, device: Union[str, torch.device] = 'cpu') -> InceptionI3d:
    """Build :class:`InceptionI3d` and load a local ``i3d_rgb_imagenet.pt`` state dict strictly, in eval mode.

    Args:
        weights: Path of the state dict file (as released: a plain ``{name: tensor}`` dict).
        device: Where to put the network.

    Returns:
        The network, in eval mode, on ``device``.
    """
    if not osp.isfile(weights):
        raise FileNotFoundError(f'I3D weights {weights} do not exist: download i3d_rgb_imagenet.pt (linked from the '
                                'E2FGVI README) and pass its local path')
    state = load_local_checkpoint(weights, map_location='cpu')
    network = InceptionI3d()
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(f'{weights} is not an i3d_rgb_imagenet.pt state dict: {error}') from error
    return network.to(device).eval()
