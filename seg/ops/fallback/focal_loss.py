"""``mmcv.ops.focal_loss``: ``sigmoid_focal_loss`` and ``SigmoidFocalLoss`` in PyTorch.

Matches mmcv's CUDA kernel, numerics included: with ``p = sigmoid(x)``, the
loss of class ``c`` in row ``n`` is ``-alpha (1 - p)^gamma log p`` when
``target[n] == c`` and ``-(1 - alpha) p^gamma log(1 - p)`` otherwise (a target
of ``num_classes`` is background: negative for every class), with mmcv's
``log(max(., FLT_MIN))``.  The logs are evaluated clamped, as mmcv does, but
differentiated as unclamped logs, which is what mmcv's analytic backward does,
so autograd reproduces mmcv's gradient.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

_FLT_MIN = torch.finfo(torch.float32).tiny
_REDUCTIONS = ('none', 'mean', 'sum')


def _kernel_log(prob: Tensor, log_prob: Tensor) -> Tensor:
    """``log(max(prob, FLT_MIN))`` in value, ``log_prob``'s gradient (``log_prob == log(prob)``)."""
    return log_prob + (torch.log(prob.clamp(min=_FLT_MIN)) - log_prob).detach()


def sigmoid_focal_loss(input: Tensor,
                       target: Tensor,
                       gamma: float = 2.0,
                       alpha: float = 0.25,
                       weight: Optional[Tensor] = None,
                       reduction: str = 'mean') -> Tensor:
    """Sigmoid focal loss of class-index targets, with mmcv's signature and semantics.

    Args:
        input (Tensor): (N, C) logits.
        target (Tensor): (N,) int64 class index per row; ``C`` means background.
        gamma (float): focusing exponent.
        alpha (float): weight of the positive term (``1 - alpha`` for negatives).
        weight (Tensor, optional): (C,) per-class weight; row ``n`` is scaled by
            ``weight[target[n]]`` (rows whose target is not a class, where mmcv reads out of
            bounds, by 1).
        reduction (str): ``'none'`` ((N, C) loss), ``'mean'`` (sum divided by N, not by N*C,
            as mmcv) or ``'sum'``.

    Returns:
        Tensor: the loss, (N, C) or a scalar.
    """
    assert target.dtype == torch.long
    assert input.dim() == 2
    assert target.dim() == 1
    assert input.size(0) == target.size(0)
    if weight is not None:
        assert weight.dim() == 1
        assert input.size(1) == weight.size(0)
    assert reduction in _REDUCTIONS

    num_classes = input.size(1)
    positive = target[:, None] == torch.arange(num_classes, device=input.device)
    prob = torch.sigmoid(input)
    neg_prob = 1 - prob
    log_prob = _kernel_log(prob, F.logsigmoid(input))
    log_neg_prob = _kernel_log(neg_prob, F.logsigmoid(-input))
    loss = torch.where(positive, -alpha * neg_prob.pow(gamma) * log_prob,
                       -(1 - alpha) * prob.pow(gamma) * log_neg_prob)
    if weight is not None:
        in_range = (target >= 0) & (target < num_classes)
        row_weight = torch.cat([weight, weight.new_ones(1)])[torch.where(in_range, target, num_classes)]
        loss = loss * row_weight[:, None]
    if reduction == 'mean':
        return loss.sum() / input.size(0)
    if reduction == 'sum':
        return loss.sum()
    return loss


class SigmoidFocalLoss(nn.Module):
    """Module form of :func:`sigmoid_focal_loss`; ``weight`` is kept as a buffer.

    Args:
        gamma (float): focusing exponent.
        alpha (float): weight of the positive term.
        weight (Tensor, optional): (C,) per-class weight.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
    """

    def __init__(self, gamma: float, alpha: float, weight: Optional[Tensor] = None,
                 reduction: str = 'mean') -> None:
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha
        self.register_buffer('weight', weight)
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            input (Tensor): (N, C) logits.
            target (Tensor): (N,) int64 class indices, ``C`` for background.

        Returns:
            Tensor: the reduced loss.
        """
        return sigmoid_focal_loss(input, target, self.gamma, self.alpha, self.weight, self.reduction)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(gamma={self.gamma}, alpha={self.alpha}, '
                f'reduction={self.reduction})')
