"""Soft aggregation (STM): per-object probabilities → a background + objects distribution."""
from typing import Tuple, Union

import torch
from torch import Tensor

#: Probabilities are clamped to [EPS, 1 − EPS] before the log-odds.
AGGREGATE_EPS = 1e-7


def aggregate(prob: Tensor, dim: int, return_logits: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Put bg = Π(1 − p) in front of ``prob`` along ``dim``, take softmax of the clamped log-odds.

    Returns the (1 + N)-channel probabilities, preceded by those log-odds when
    ``return_logits`` (the minimum, log(1e-7 / (1 − 1e-7)) ≈ −16.118, is the clamp).
    """
    with_bg = torch.cat([torch.prod(1 - prob, dim=dim, keepdim=True), prob], dim)
    with_bg = with_bg.clamp(AGGREGATE_EPS, 1 - AGGREGATE_EPS)
    logits = torch.log(with_bg / (1 - with_bg))
    out = torch.softmax(logits, dim=dim)
    return (logits, out) if return_logits else out
