"""Second-order deformable alignment without flow guidance (ProPainter's flow completion network)."""
import torch
import torch.nn as nn
from torch import Tensor

from seg.ops import ModulatedDeformConv2d, modulated_deform_conv2d

# Per deform group of a 3x3 kernel the offset network predicts 9 (dy, dx) pairs and 9 mask scalars.
KERNEL_POINTS = 9
OFFSET_OUTPUTS_PER_GROUP = 3 * KERNEL_POINTS


class UnguidedSecondOrderAlignment(ModulatedDeformConv2d):
    """Align the features of the two previous propagation steps to the current one with a DCNv2.

    Unlike the flow-guided alignment of E2FGVI / BasicVSR++
    (:class:`~seg.models.layers.second_order_deformable_alignment.SecondOrderDeformableAlignment`),
    no flow is added to the offsets and none is given to the offset network: the
    offsets are the offset network's residual alone, bounded to
    ``max_residue_magnitude`` pixels by ``tanh``, and the modulation mask is its
    sigmoid. The offset network sees the condition (n-1 features, current
    features, n-2 features). Attribute names follow the official state_dict
    (``weight``, ``bias``, ``conv_offset.{0,2,4,6}``).

    Args:
        in_channels (int): channels of the concatenated n-1 and n-2 features (2C).
        out_channels (int): output channels (C); the condition has 3C channels.
        deform_groups (int): offset groups.
        max_residue_magnitude (float): bound of the offsets, pixels.
    """

    def __init__(self, in_channels: int, out_channels: int, deform_groups: int = 16,
                 max_residue_magnitude: float = 5.0) -> None:
        self.max_residue_magnitude = max_residue_magnitude
        super().__init__(in_channels, out_channels, 3, padding=1, deform_groups=deform_groups)
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope=0.1),
            nn.Conv2d(out_channels, OFFSET_OUTPUTS_PER_GROUP * deform_groups, 3, padding=1),
        )
        self.init_offset()

    def init_offset(self) -> None:
        """Zero the last offset conv: an untrained module samples the regular grid with mask 0.5."""
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """Align the n-1 and n-2 features to the current step.

        Args:
            x (Tensor): (N, 2C, H, W) n-1 then n-2 propagated features.
            cond (Tensor): (N, 3C, H, W) n-1 features, current features, n-2 features.

        Returns:
            Tensor: (N, C, H, W) aligned features.
        """
        offset_1, offset_2, mask = torch.chunk(self.conv_offset(cond), 3, dim=1)
        offset = self.max_residue_magnitude * torch.tanh(torch.cat((offset_1, offset_2), dim=1))
        return modulated_deform_conv2d(x, offset, torch.sigmoid(mask), self.weight, self.bias, self.stride,
                                       self.padding, self.dilation, self.groups, self.deform_groups)
