"""XMem's sensory-memory updates: convolutional GRUs on per-object hidden states."""
from typing import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from .group_layers import GConv2d, resize_groups


def gru_update(values: Tensor, h: Tensor, hidden_dim: int) -> Tensor:
    """XMem's GRU variant: forget·h·(1 − update) + update·tanh(candidate).

    Args:
        values: (B, N, 3·hidden_dim, H, W) gate pre-activations, forget / update / candidate.
        h: (B, N, hidden_dim, H, W) previous hidden state.
    """
    forget = torch.sigmoid(values[:, :, :hidden_dim])
    update = torch.sigmoid(values[:, :, hidden_dim:2 * hidden_dim])
    candidate = torch.tanh(values[:, :, 2 * hidden_dim:])
    return forget * h * (1 - update) + update * candidate


class HiddenReinforcer(nn.Module):
    """Deep update in the value encoder: one GRU step from the (B, N, g_dim, H, W) value features."""

    def __init__(self, g_dim: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.transform = GConv2d(g_dim + hidden_dim, hidden_dim * 3, kernel_size=3, padding=1)
        nn.init.xavier_normal_(self.transform.weight)

    def forward(self, g: Tensor, h: Tensor) -> Tensor:
        return gru_update(self.transform(torch.cat([g, h], dim=2)), h, self.hidden_dim)


class HiddenUpdater(nn.Module):
    """Decoder-side update from the stride-16/8/4 decoder features (area-downsampled to stride 16).

    Args:
        g_dims: channels of the stride-16, 8 and 4 features.
        mid_dim: width they are projected to and summed in.
        hidden_dim: hidden-state channels.
    """

    def __init__(self, g_dims: Sequence[int], mid_dim: int, hidden_dim: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.g16_conv = GConv2d(g_dims[0], mid_dim, kernel_size=1)
        self.g8_conv = GConv2d(g_dims[1], mid_dim, kernel_size=1)
        self.g4_conv = GConv2d(g_dims[2], mid_dim, kernel_size=1)
        self.transform = GConv2d(mid_dim + hidden_dim, hidden_dim * 3, kernel_size=3, padding=1)
        nn.init.xavier_normal_(self.transform.weight)

    def forward(self, g16: Tensor, g8: Tensor, g4: Tensor, h: Tensor) -> Tensor:
        g = (self.g16_conv(g16) + self.g8_conv(resize_groups(g8, 1 / 2, 'area')) +
             self.g4_conv(resize_groups(g4, 1 / 4, 'area')))
        return gru_update(self.transform(torch.cat([g, h], dim=2)), h, self.hidden_dim)
