"""ProPainter's frame encoder: frames plus two hole masks to (128, H/4, W/4) features."""
import torch
import torch.nn as nn
from torch import Tensor

from seg.registry import MODELS

LEAKY_SLOPE = 0.2


@MODELS.register_module()
class ProPainterEncoder(nn.Module):
    """Conv encoder whose last four convs see, group by group, an earlier 256-channel map next to their input.

    The E2FGVI encoder's layout with a 5-channel input (RGB, original hole,
    propagation-updated hole). The convs before ``layers.8`` run plainly; each conv
    from ``layers.8`` on after the first takes the map from before ``layers.8``
    interleaved group-wise with the previous output (1, 2, 4, 8, 1 groups).
    Attribute names follow the official state_dict (``layers.<i>``, LeakyReLUs at
    odd indices).

    Args:
        in_channels (int): input channels per frame.
    """

    # (in, out, stride, groups) of the convs; the last four inputs include the skip map.
    CONVS = ((None, 64, 2, 1), (64, 64, 1, 1), (64, 128, 2, 1), (128, 256, 1, 1), (256, 384, 1, 1),
             (640, 512, 1, 2), (768, 384, 1, 4), (640, 256, 1, 8), (512, 128, 1, 1))
    SKIP_FROM = 8
    SKIP_GROUPS = (1, 2, 4, 8, 1)

    def __init__(self, in_channels: int = 5) -> None:
        super().__init__()
        layers = []
        for conv_in, conv_out, stride, groups in self.CONVS:
            layers += [nn.Conv2d(conv_in or in_channels, conv_out, 3, stride=stride, padding=1, groups=groups),
                       nn.LeakyReLU(LEAKY_SLOPE)]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, H, W) -> (N, 128, ceil(H/4), ceil(W/4)) features."""
        n = x.shape[0]
        out = x
        for index, layer in enumerate(self.layers):
            if index == self.SKIP_FROM:
                skip = out
            if index > self.SKIP_FROM and index % 2 == 0:
                groups = self.SKIP_GROUPS[(index - self.SKIP_FROM) // 2]
                h, w = skip.shape[-2:]
                out = torch.cat([skip.view(n, groups, -1, h, w), out.view(n, groups, -1, h, w)], dim=2)
                out = out.view(n, -1, h, w)
            out = layer(out)
        return out
