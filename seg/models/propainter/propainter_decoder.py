"""ProPainter's decoder: (128, H/4, W/4) features back to (3, H, W) frames (before the tanh)."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.registry import MODELS

LEAKY_SLOPE = 0.2


class UpsampleConv(nn.Module):
    """x2 bilinear upsampling (align_corners=True), then a 3x3 conv (official ``deconv``; weights in ``conv``).

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, h, w) -> (N, C_out, 2h, 2w)."""
        return self.conv(F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True))


@MODELS.register_module()
class ProPainterDecoder(nn.Sequential):
    """Two x2 upsampling stages to a 3-channel map; the caller applies the tanh.

    Attribute names follow the official state_dict (``0.conv``, ``2``, ``4.conv``, ``6``).

    Args:
        in_channels (int): feature channels.
    """

    def __init__(self, in_channels: int = 128) -> None:
        super().__init__(
            UpsampleConv(in_channels, 128), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(128, 64, 3, padding=1), nn.LeakyReLU(LEAKY_SLOPE),
            UpsampleConv(64, 64), nn.LeakyReLU(LEAKY_SLOPE),
            nn.Conv2d(64, 3, 3, padding=1))
