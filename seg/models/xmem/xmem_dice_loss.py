"""XMem's soft dice loss: per object, over each sample's pixels, averaged over objects and samples."""
import torch
import torch.nn as nn
from torch import Tensor

from seg.registry import MODELS


@MODELS.register_module()
class XMemDiceLoss(nn.Module):
    """1 − (2·Σ p·g + 1) / (Σ p + Σ g + 1) for every (sample, object), then the mean.

    Unlike mmdet's ``DiceLoss`` the ground truth is a class map and the
    prediction the soft-aggregated probabilities of every object channel.
    """

    def forward(self, prob: Tensor, cls_gt: Tensor) -> Tensor:
        """(B, N, H, W) object probabilities (no background) and (B, H, W) class map (k + 1 = object k)."""
        losses = []
        for k in range(prob.shape[1]):
            p = prob[:, k].flatten(1)
            g = (cls_gt == k + 1).float().flatten(1)
            losses.append(1 - (2 * (p * g).sum(-1) + 1) / (p.sum(-1) + g.sum(-1) + 1))
        return torch.cat(losses).mean()
