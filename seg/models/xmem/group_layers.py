"""Layers on per-object ("group") features shaped (B, N, C, H, W), N objects sharing one image.

Every layer treats the object axis as extra batch, so it is equivariant to the
order of the objects.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def resize_groups(g: Tensor, ratio: float, mode: str) -> Tensor:
    """Rescale (B, N, C, H, W) features by ``ratio`` (bilinear up, area down, as XMem does)."""
    align = False if mode == 'bilinear' else None
    out = F.interpolate(g.flatten(0, 1), scale_factor=ratio, mode=mode, align_corners=align)
    return out.unflatten(0, g.shape[:2])


def broadcast_to_groups(x: Tensor, g: Tensor, method: str = 'cat') -> Tensor:
    """Give every object the image features: (B, C, H, W) ``x`` with (B, N, C', H, W) ``g``.

    ``cat`` puts the image channels first (B, N, C + C', H, W); ``add`` needs C == C'.
    """
    x = x.unsqueeze(1).expand(-1, g.shape[1], -1, -1, -1)
    if method == 'cat':
        return torch.cat([x, g], dim=2)
    if method == 'add':
        return x + g
    raise ValueError(f'method must be "cat" or "add", got {method!r}')


class GConv2d(nn.Conv2d):
    """A Conv2d applied to each object's (C, H, W) features: (B, N, C, H, W) → (B, N, C', H', W')."""

    def forward(self, g: Tensor) -> Tensor:
        return super().forward(g.flatten(0, 1)).unflatten(0, g.shape[:2])


class GroupResBlock(nn.Module):
    """Pre-activation residual block of two 3×3 group convs; a 3×3 conv projects the shortcut when C changes."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.downsample = None if in_dim == out_dim else GConv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv1 = GConv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv2 = GConv2d(out_dim, out_dim, kernel_size=3, padding=1)

    def forward(self, g: Tensor) -> Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        return out + (g if self.downsample is None else self.downsample(g))
