"""Edge map head of the flow completion network (ProPainter's ``EdgeDetection``)."""
import torch
import torch.nn as nn
from torch import Tensor


class FlowEdgeDetector(nn.Module):
    """Predict motion-edge probabilities from a flow field: a small residual conv block and a sigmoid.

    Only used for the edge loss when training the flow completion network.
    Attribute names follow the official state_dict (``projection.0``,
    ``mid_layer_1.0``, ``mid_layer_2.0``, ``out_layer``).

    Args:
        in_channels (int): input channels (2: a flow's x and y).
        out_channels (int): output channels (1 edge map).
        mid_channels (int): hidden channels.
    """

    def __init__(self, in_channels: int = 2, out_channels: int = 1, mid_channels: int = 16) -> None:
        super().__init__()
        self.projection = nn.Sequential(nn.Conv2d(in_channels, mid_channels, 3, padding=1),
                                        nn.LeakyReLU(0.2))
        self.mid_layer_1 = nn.Sequential(nn.Conv2d(mid_channels, mid_channels, 3, padding=1),
                                         nn.LeakyReLU(0.2))
        self.mid_layer_2 = nn.Sequential(nn.Conv2d(mid_channels, mid_channels, 3, padding=1))
        self.residual_act = nn.LeakyReLU(0.01)
        self.out_layer = nn.Conv2d(mid_channels, out_channels, 1)

    def forward(self, flow: Tensor) -> Tensor:
        """(N, 2, H, W) flow, pixels -> (N, 1, H, W) edge probabilities in (0, 1)."""
        projected = self.projection(flow)
        edge = self.residual_act(projected + self.mid_layer_2(self.mid_layer_1(projected)))
        return torch.sigmoid(self.out_layer(edge))
