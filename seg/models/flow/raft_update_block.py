"""RAFT's recurrent update block: motion features -> GRU -> flow residual (and convex-upsampling weights).

One call is one refinement iteration on the 1/8 grid. raft-things uses
:class:`BasicUpdateBlock` (separable 1x5 / 5x1 ConvGRU, 128-channel hidden state,
a head predicting the 9-neighbour convex-upsampling weights); raft-small uses
:class:`SmallUpdateBlock` (3x3 ConvGRU, 96 channels, no upsampling head).
Attribute names follow the official state_dict (``encoder.*``, ``gru.*``,
``flow_head.*``, ``mask.{0,2}.*``).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

#: Factor on the upsampling-mask logits (the official code uses it to balance gradients).
UPSAMPLE_MASK_SCALE = 0.25
#: Upsampling factor from the 1/8 grid, and the convex-combination neighbourhood (3x3).
UPSAMPLE_FACTOR = 8
UPSAMPLE_NEIGHBOURS = 9


class FlowHead(nn.Module):
    """Two 3x3 convs with ReLU between: hidden state (N, in_channels, h, w) -> flow residual (N, 2, h, w)."""

    def __init__(self, in_channels: int, hidden_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_channels, 2, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, hidden: Tensor) -> Tensor:
        return self.conv2(self.relu(self.conv1(hidden)))


def gru_step(hidden: Tensor, x: Tensor, convz: nn.Module, convr: nn.Module, convq: nn.Module) -> Tensor:
    """One GRU update: h' = (1-z)·h + z·tanh(convq([r·h, x])), with z, r = sigmoid(conv([h, x]))."""
    hx = torch.cat([hidden, x], dim=1)
    update = torch.sigmoid(convz(hx))
    reset = torch.sigmoid(convr(hx))
    candidate = torch.tanh(convq(torch.cat([reset * hidden, x], dim=1)))
    return (1 - update) * hidden + update * candidate


class ConvGRU(nn.Module):
    """Convolutional GRU with 3x3 gates (raft-small).

    Args:
        hidden_dim (int): hidden-state channels.
        input_dim (int): input channels.
    """

    def __init__(self, hidden_dim: int, input_dim: int) -> None:
        super().__init__()
        self.convz = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)
        self.convr = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)
        self.convq = nn.Conv2d(hidden_dim + input_dim, hidden_dim, 3, padding=1)

    def forward(self, hidden: Tensor, x: Tensor) -> Tensor:
        """(N, hidden_dim, h, w), (N, input_dim, h, w) -> new hidden state (N, hidden_dim, h, w)."""
        return gru_step(hidden, x, self.convz, self.convr, self.convq)


class SepConvGRU(nn.Module):
    """Convolutional GRU applied twice: horizontal 1x5 gates, then vertical 5x1 gates (raft-things).

    Args:
        hidden_dim (int): hidden-state channels.
        input_dim (int): input channels.
    """

    def __init__(self, hidden_dim: int, input_dim: int) -> None:
        super().__init__()
        channels = hidden_dim + input_dim
        self.convz1 = nn.Conv2d(channels, hidden_dim, (1, 5), padding=(0, 2))
        self.convr1 = nn.Conv2d(channels, hidden_dim, (1, 5), padding=(0, 2))
        self.convq1 = nn.Conv2d(channels, hidden_dim, (1, 5), padding=(0, 2))
        self.convz2 = nn.Conv2d(channels, hidden_dim, (5, 1), padding=(2, 0))
        self.convr2 = nn.Conv2d(channels, hidden_dim, (5, 1), padding=(2, 0))
        self.convq2 = nn.Conv2d(channels, hidden_dim, (5, 1), padding=(2, 0))

    def forward(self, hidden: Tensor, x: Tensor) -> Tensor:
        """(N, hidden_dim, h, w), (N, input_dim, h, w) -> new hidden state (N, hidden_dim, h, w)."""
        hidden = gru_step(hidden, x, self.convz1, self.convr1, self.convq1)
        return gru_step(hidden, x, self.convz2, self.convr2, self.convq2)


class BasicMotionEncoder(nn.Module):
    """Correlation and current flow -> 128 motion channels (126 learned + the flow itself), raft-things.

    Args:
        corr_channels (int): channels of a correlation look-up (levels x (2r+1)^2).
    """

    def __init__(self, corr_channels: int) -> None:
        super().__init__()
        self.convc1 = nn.Conv2d(corr_channels, 256, 1, padding=0)
        self.convc2 = nn.Conv2d(256, 192, 3, padding=1)
        self.convf1 = nn.Conv2d(2, 128, 7, padding=3)
        self.convf2 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv = nn.Conv2d(64 + 192, 128 - 2, 3, padding=1)

    def forward(self, flow: Tensor, corr: Tensor) -> Tensor:
        """(N, 2, h, w) flow, (N, corr_channels, h, w) correlation -> (N, 128, h, w)."""
        corr_features = F.relu(self.convc2(F.relu(self.convc1(corr))))
        flow_features = F.relu(self.convf2(F.relu(self.convf1(flow))))
        motion = F.relu(self.conv(torch.cat([corr_features, flow_features], dim=1)))
        return torch.cat([motion, flow], dim=1)


class SmallMotionEncoder(nn.Module):
    """Correlation and current flow -> 82 motion channels (80 learned + the flow itself), raft-small.

    Args:
        corr_channels (int): channels of a correlation look-up (levels x (2r+1)^2).
    """

    def __init__(self, corr_channels: int) -> None:
        super().__init__()
        self.convc1 = nn.Conv2d(corr_channels, 96, 1, padding=0)
        self.convf1 = nn.Conv2d(2, 64, 7, padding=3)
        self.convf2 = nn.Conv2d(64, 32, 3, padding=1)
        self.conv = nn.Conv2d(128, 80, 3, padding=1)

    def forward(self, flow: Tensor, corr: Tensor) -> Tensor:
        """(N, 2, h, w) flow, (N, corr_channels, h, w) correlation -> (N, 82, h, w)."""
        corr_features = F.relu(self.convc1(corr))
        flow_features = F.relu(self.convf2(F.relu(self.convf1(flow))))
        motion = F.relu(self.conv(torch.cat([corr_features, flow_features], dim=1)))
        return torch.cat([motion, flow], dim=1)


class BasicUpdateBlock(nn.Module):
    """raft-things update: motion encoder, SepConvGRU, flow head and convex-upsampling weight head.

    Args:
        corr_channels (int): channels of a correlation look-up.
        hidden_dim (int): GRU hidden-state channels (128).
        context_dim (int): context-feature channels (128).
    """

    def __init__(self, corr_channels: int, hidden_dim: int = 128, context_dim: int = 128) -> None:
        super().__init__()
        self.encoder = BasicMotionEncoder(corr_channels)
        self.gru = SepConvGRU(hidden_dim=hidden_dim, input_dim=context_dim + 128)
        self.flow_head = FlowHead(hidden_dim, hidden_channels=256)
        self.mask = nn.Sequential(
            nn.Conv2d(hidden_dim, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, UPSAMPLE_FACTOR * UPSAMPLE_FACTOR * UPSAMPLE_NEIGHBOURS, 1, padding=0))

    def forward(self, hidden: Tensor, context: Tensor, corr: Tensor,
                flow: Tensor) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        """One refinement iteration on the 1/8 grid.

        Args:
            hidden (Tensor): (N, hidden_dim, h, w) GRU state.
            context (Tensor): (N, context_dim, h, w) context features.
            corr (Tensor): (N, corr_channels, h, w) correlation look-up.
            flow (Tensor): (N, 2, h, w) current flow in 1/8-grid pixels.

        Returns:
            tuple: new hidden state (N, hidden_dim, h, w); upsampling-weight logits
            (N, 576, h, w), already scaled by :data:`UPSAMPLE_MASK_SCALE`; flow
            residual (N, 2, h, w).
        """
        motion = self.encoder(flow, corr)
        hidden = self.gru(hidden, torch.cat([context, motion], dim=1))
        return hidden, UPSAMPLE_MASK_SCALE * self.mask(hidden), self.flow_head(hidden)


class SmallUpdateBlock(nn.Module):
    """raft-small update: motion encoder, ConvGRU and flow head (no upsampling weights).

    Args:
        corr_channels (int): channels of a correlation look-up.
        hidden_dim (int): GRU hidden-state channels (96).
        context_dim (int): context-feature channels (64).
    """

    def __init__(self, corr_channels: int, hidden_dim: int = 96, context_dim: int = 64) -> None:
        super().__init__()
        self.encoder = SmallMotionEncoder(corr_channels)
        self.gru = ConvGRU(hidden_dim=hidden_dim, input_dim=context_dim + 82)
        self.flow_head = FlowHead(hidden_dim, hidden_channels=128)

    def forward(self, hidden: Tensor, context: Tensor, corr: Tensor,
                flow: Tensor) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        """As :meth:`BasicUpdateBlock.forward`, with None for the upsampling weights."""
        motion = self.encoder(flow, corr)
        hidden = self.gru(hidden, torch.cat([context, motion], dim=1))
        return hidden, None, self.flow_head(hidden)
