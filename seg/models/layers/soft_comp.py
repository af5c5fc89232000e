"""Soft composition (tokens -> feature map) of FuseFormer, E2FGVI and ProPainter."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.registry import MODELS
from .soft_split import IntPair


@MODELS.register_module()
class SoftComp(nn.Module):
    """Project tokens back to patches and fold the overlapping patches into a feature map (summing overlaps).

    Two official variants, chosen by ``bias_size``:

    * E2FGVI: a learned bias map of the fixed size ``bias_size`` is added after
      the fold (``bias``); only that feature size is accepted.
    * E2FGVI-HQ and ProPainter (``bias_size=None``): the folded map goes through a 3x3 conv
      (``bias_conv``); any feature size.

    Args:
        channels (int): feature channels C.
        hidden (int): token width.
        kernel_size (tuple[int, int]): patch size.
        stride (tuple[int, int]): patch stride.
        padding (tuple[int, int]): zero padding of the map.
        bias_size (tuple[int, int], optional): (H, W) of the learned bias map.
    """

    def __init__(self, channels: int, hidden: int, kernel_size: IntPair, stride: IntPair, padding: IntPair,
                 bias_size: Optional[IntPair] = None) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = tuple(kernel_size), tuple(stride), tuple(padding)
        self.embedding = nn.Linear(hidden, math.prod(self.kernel_size) * channels)
        self.bias_size = None if bias_size is None else tuple(bias_size)
        if self.bias_size is None:
            self.bias_conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        else:
            self.bias = nn.Parameter(torch.zeros(channels, *self.bias_size))

    def forward(self, tokens: Tensor, num_frames: int, output_size: IntPair) -> Tensor:
        """Compose tokens into features.

        Args:
            tokens (Tensor): (B, T, h, w, hidden) tokens.
            num_frames (int): T.
            output_size (tuple[int, int]): (H, W) of the feature map the tokens were cut from.

        Returns:
            Tensor: (B*T, C, H, W) features.
        """
        output_size = tuple(output_size)
        if self.bias_size is not None and output_size != self.bias_size:
            raise ValueError(f'SoftComp with a learned {self.bias_size} bias map cannot compose a {output_size} '
                             'map; build it with bias_size=None (the E2FGVI-HQ variant) for other sizes')
        patches = self.embedding(tokens.view(tokens.size(0), -1, tokens.size(-1)))
        patches = patches.view(tokens.size(0) * num_frames, -1, patches.size(-1)).permute(0, 2, 1)
        feats = F.fold(patches, output_size, self.kernel_size, padding=self.padding, stride=self.stride)
        if self.bias_size is None:
            return self.bias_conv(feats)
        return feats + self.bias[None]
