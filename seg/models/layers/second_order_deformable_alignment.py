"""Second-order flow-guided deformable alignment (BasicVSR++'s, as used by E2FGVI)."""
import torch
import torch.nn as nn
from torch import Tensor

from seg.ops import ModulatedDeformConv2d, modulated_deform_conv2d
from seg.registry import MODELS

# Offsets and masks per deform group of a 3x3 kernel: 9 (dy, dx) pairs and 9 mask scalars.
KERNEL_POINTS = 9
OFFSET_OUTPUTS_PER_GROUP = 3 * KERNEL_POINTS
# Two flows, (x, y) each, are appended to the offset network's input.
FLOW_CHANNELS = 2 * 2


@MODELS.register_module()
class SecondOrderDeformableAlignment(ModulatedDeformConv2d):
    """Warp the features of the two previous frames onto the current one with a flow-guided DCN.

    The input is the concatenation of the n-1 and n-2 propagated features. An
    offset network sees the conditions (n-1 features warped by the n-1 flow, the
    current features, n-2 features warped by the composed n-2 flow) and both
    flows, and predicts residual offsets bounded to ``max_residue_magnitude``
    pixels by ``tanh`` and a sigmoid mask. The deform groups of the first half of
    the input channels follow the n-1 flow, those of the second half the n-2 flow.
    Attribute names follow the official state_dict (``weight``, ``bias``,
    ``conv_offset.{0,2,4,6}``).

    Args:
        in_channels (int): channels of the concatenated n-1 and n-2 features (2C).
        out_channels (int): output channels (C).
        kernel_size (int): kernel size; the offset layout assumes 3.
        padding (int): convolution padding.
        deform_groups (int): offset groups; an even number, half per flow.
        max_residue_magnitude (float): bound of the learned offset residual, pixels.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 padding: int = 1,
                 deform_groups: int = 16,
                 max_residue_magnitude: float = 10.0) -> None:
        if kernel_size != 3 or deform_groups % 2:
            raise ValueError(f'SecondOrderDeformableAlignment needs a 3x3 kernel and an even deform_groups; got '
                             f'kernel_size={kernel_size}, deform_groups={deform_groups}')
        self.max_residue_magnitude = max_residue_magnitude
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, deform_groups=deform_groups)
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * out_channels + FLOW_CHANNELS, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1),
            nn.Conv2d(out_channels, OFFSET_OUTPUTS_PER_GROUP * deform_groups, 3, padding=1),
        )
        self.init_offset()

    def init_offset(self) -> None:
        """Zero the last offset conv, so an untrained module samples exactly along the flows."""
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def forward(self, x: Tensor, cond: Tensor, flow_n1: Tensor, flow_n2: Tensor) -> Tensor:
        """Align the n-1 and n-2 features to the current frame.

        Args:
            x (Tensor): (N, 2C, H, W) n-1 then n-2 propagated features (unwarped).
            cond (Tensor): (N, 3C, H, W) warped n-1 features, current features, warped n-2 features.
            flow_n1 (Tensor): (N, 2, H, W) flow from the current frame to frame n-1, pixels, (x, y).
            flow_n2 (Tensor): (N, 2, H, W) composed flow to frame n-2, pixels, (x, y).

        Returns:
            Tensor: (N, C, H, W) aligned features.
        """
        out = self.conv_offset(torch.cat([cond, flow_n1, flow_n2], dim=1))
        offset_1, offset_2, mask = torch.chunk(out, 3, dim=1)
        residual = self.max_residue_magnitude * torch.tanh(torch.cat((offset_1, offset_2), dim=1))
        residual_n1, residual_n2 = torch.chunk(residual, 2, dim=1)
        # DCN offsets are (dy, dx) pairs: the (x, y) flows are flipped and tiled over every kernel point.
        offset_n1 = residual_n1 + flow_n1.flip(1).repeat(1, residual_n1.size(1) // 2, 1, 1)
        offset_n2 = residual_n2 + flow_n2.flip(1).repeat(1, residual_n2.size(1) // 2, 1, 1)
        offset = torch.cat([offset_n1, offset_n2], dim=1)
        return modulated_deform_conv2d(x, offset, torch.sigmoid(mask), self.weight, self.bias, self.stride,
                                       self.padding, self.dilation, self.groups, self.deform_groups)
