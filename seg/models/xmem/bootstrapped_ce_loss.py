"""Bootstrapped cross-entropy (XMem): the mean over the hardest pixels, annealed from all pixels to ``top_p``."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.registry import MODELS


@MODELS.register_module()
class BootstrappedCELoss(nn.Module):
    """Cross-entropy over the top ``p`` fraction of per-pixel losses.

    p is 1 (plain mean) before ``start_warm``, falls linearly to ``top_p`` at
    ``end_warm`` and stays there (XMem: 20k → 70k iterations, 0.15).

    Args:
        start_warm / end_warm: iterations of the annealing.
        top_p: final fraction of pixels kept.
    """

    def __init__(self, start_warm: int = 20000, end_warm: int = 70000, top_p: float = 0.15):
        super().__init__()
        self.start_warm, self.end_warm, self.top_p = start_warm, end_warm, top_p

    def fraction(self, iteration: int) -> float:
        """p at ``iteration``."""
        if iteration < self.start_warm:
            return 1.0
        if iteration > self.end_warm:
            return self.top_p
        return self.top_p + (1 - self.top_p) * (self.end_warm - iteration) / (self.end_warm - self.start_warm)

    def forward(self, logits: Tensor, target: Tensor, iteration: int) -> Tensor:
        """(B, C, H, W) logits and (B, H, W) class indices → scalar."""
        if iteration < self.start_warm:
            return F.cross_entropy(logits, target)
        raw = F.cross_entropy(logits, target, reduction='none').flatten()
        return torch.topk(raw, int(raw.numel() * self.fraction(iteration)), sorted=False).values.mean()
