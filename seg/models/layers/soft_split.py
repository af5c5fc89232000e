"""Soft split (overlapping patches -> tokens) of FuseFormer, E2FGVI and ProPainter; :class:`SoftComp` is its inverse."""
import math
from typing import Tuple

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.registry import MODELS

IntPair = Tuple[int, int]


def token_grid_size(feat_size: IntPair, kernel_size: IntPair, stride: IntPair, padding: IntPair) -> IntPair:
    """(rows, cols) of overlapping patches that ``nn.Unfold`` cuts from a (H, W) map."""
    return tuple((size + 2 * pad - kernel) // step + 1
                 for size, kernel, step, pad in zip(feat_size, kernel_size, stride, padding))


@MODELS.register_module()
class SoftSplit(nn.Module):
    """Cut each frame's features into overlapping patches and embed each patch as a token.

    The token grid is derived from the input's size at run time. Attribute names
    follow the official state_dict (``embedding``).

    Args:
        channels (int): feature channels C.
        hidden (int): token width.
        kernel_size (tuple[int, int]): patch size.
        stride (tuple[int, int]): patch stride.
        padding (tuple[int, int]): zero padding of the map.
    """

    def __init__(self, channels: int, hidden: int, kernel_size: IntPair, stride: IntPair, padding: IntPair) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = tuple(kernel_size), tuple(stride), tuple(padding)
        self.embedding = nn.Linear(math.prod(self.kernel_size) * channels, hidden)

    def forward(self, feats: Tensor, batch_size: int) -> Tensor:
        """(B*T, C, H, W) features -> (B, T, h, w, hidden) tokens on the (h, w) patch grid."""
        grid = token_grid_size(feats.shape[-2:], self.kernel_size, self.stride, self.padding)
        patches = F.unfold(feats, self.kernel_size, padding=self.padding, stride=self.stride)
        tokens = self.embedding(patches.permute(0, 2, 1))
        return tokens.view(batch_size, -1, *grid, tokens.size(-1))
