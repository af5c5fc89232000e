"""E2FGVI's and ProPainter's temporal PatchGAN discriminator: 3D convs over (T, H, W) with spectral norm."""
import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.utils import spectral_norm

from seg.registry import MODELS

BASE_CHANNELS = 32
# Output channels of the six Conv3d layers; each halves H and W and keeps T.
LAYER_CHANNELS = (BASE_CHANNELS, 2 * BASE_CHANNELS, 4 * BASE_CHANNELS, 4 * BASE_CHANNELS, 4 * BASE_CHANNELS,
                  4 * BASE_CHANNELS)
KERNEL_SIZE = (3, 5, 5)
STRIDE = (1, 2, 2)
LEAKY_SLOPE = 0.2
# Standard deviation of the normal initialisation of the conv weights.
INIT_GAIN = 0.02


@MODELS.register_module()
class TemporalPatchDiscriminator(nn.Module):
    """Score space-time patches of a clip as real or fake (official ``model/e2fgvi.py`` ``Discriminator``).

    Six Conv3d layers (kernel 3x5x5, stride 1x2x2, LeakyReLU(0.2) between); all
    but the last are spectrally normalised and then have no bias. The first pads
    by 1 in every dim, the others by (1, 2, 2). Attribute names follow the
    official state_dict (``conv.<i>.weight_orig/weight_u/weight_v``, ``conv.10.*``).
    ProPainter's ``Discriminator`` (``model/propainter.py``, built by its trainer with
    in_channels=3 and, for the hinge loss, use_sigmoid=False) has the same layout,
    keys and math, so its checkpoints load here unchanged.

    Args:
        in_channels (int): channels per frame.
        use_sigmoid (bool): squash the scores with a sigmoid (for a BCE loss); the
            official configs use the hinge loss and leave this off.
        use_spectral_norm (bool): spectral norm on the first five convs.
        init_weights (bool): normal(0, 0.02) weights, zero biases.
    """

    def __init__(self, in_channels: int = 3, use_sigmoid: bool = False, use_spectral_norm: bool = True,
                 init_weights: bool = True) -> None:
        super().__init__()
        self.use_sigmoid = use_sigmoid
        layers = []
        channels = in_channels
        for index, out_channels in enumerate(LAYER_CHANNELS):
            is_last = index == len(LAYER_CHANNELS) - 1
            normalised = use_spectral_norm and not is_last
            conv = nn.Conv3d(channels, out_channels, KERNEL_SIZE, stride=STRIDE,
                             padding=1 if index == 0 else (1, 2, 2), bias=not normalised)
            if init_weights:
                nn.init.normal_(conv.weight, 0.0, INIT_GAIN)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
            layers.append(spectral_norm(conv) if normalised else conv)
            if not is_last:
                layers.append(nn.LeakyReLU(LEAKY_SLOPE))
            channels = out_channels
        self.conv = nn.Sequential(*layers)

    def forward(self, frames: Tensor) -> Tensor:
        """Score a clip.

        Args:
            frames (Tensor): (B, T, C, H, W) frames, e.g. in [-1, 1].

        Returns:
            Tensor: (B, T, 128, H', W') patch scores: the first conv maps H to
            (H - 3) // 2 + 1, the other five halve it rounding up (240x432 -> 4x7).
        """
        if frames.dim() != 5:
            raise ValueError(f'TemporalPatchDiscriminator needs (B, T, C, H, W) frames; got {tuple(frames.shape)}')
        scores = self.conv(frames.transpose(1, 2))
        if self.use_sigmoid:
            scores = torch.sigmoid(scores)
        return scores.transpose(1, 2)
