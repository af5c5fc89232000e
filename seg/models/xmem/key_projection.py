"""XMem's projection of stride-16 features to key, shrinkage and selection."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor


class KeyProjection(nn.Module):
    """Three 3×3 convs on (B, C, h, w) features.

    Returns key (B, key_dim, h, w); shrinkage d² + 1 (B, 1, h, w) when asked; selection
    sigmoid(e) (B, key_dim, h, w) when asked (None otherwise).
    """

    def __init__(self, in_dim: int, key_dim: int):
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        self.d_proj = nn.Conv2d(in_dim, 1, kernel_size=3, padding=1)
        self.e_proj = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight)
        nn.init.zeros_(self.key_proj.bias)

    def forward(self, x: Tensor, need_s: bool, need_e: bool) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        shrinkage = self.d_proj(x)**2 + 1 if need_s else None
        selection = torch.sigmoid(self.e_proj(x)) if need_e else None
        return self.key_proj(x), shrinkage, selection
