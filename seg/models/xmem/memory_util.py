"""XMem's memory reading: anisotropic L2 similarity, (top-k) softmax, readout.

Shapes: memory keys (B, CK, N) with N memory tokens (any trailing dims are
flattened in (T, h, w) order), query keys (B, CK, HW).
"""
import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor


def get_similarity(mk: Tensor, ms: Optional[Tensor], qk: Tensor, qe: Optional[Tensor]) -> Tensor:
    """Similarity of every memory token to every query token, (B, N, HW).

    With a selection ``qe`` (B, CK, HW): −Σ_c e_c (k_mem,c − k_q,c)², expanded as
    −a² + 2ab − b²; without it XMem drops the query-only b² term. Then times the
    memory shrinkage ``ms`` (B, 1, N) when given, and divided by √CK.
    """
    num_channels = mk.shape[1]
    mk = mk.flatten(2)
    qk = qk.flatten(2)
    if qe is not None:
        qe = qe.flatten(2)
        mk = mk.transpose(1, 2)
        a_sq = mk.pow(2) @ qe
        two_ab = 2 * (mk @ (qk * qe))
        b_sq = (qe * qk.pow(2)).sum(1, keepdim=True)
        similarity = -a_sq + two_ab - b_sq
    else:
        a_sq = mk.pow(2).sum(1).unsqueeze(2)
        two_ab = 2 * (mk.transpose(1, 2) @ qk)
        similarity = -a_sq + two_ab
    if ms is not None:
        similarity = similarity * ms.flatten(1).unsqueeze(2)
    return similarity / math.sqrt(num_channels)


def do_softmax(similarity: Tensor, top_k: Optional[int] = None, inplace: bool = False,
               return_usage: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Softmax over the memory axis (dim 1) of (B, N, HW) similarities.

    With ``top_k`` only the k largest per query are kept and exponentiated as they
    are — XMem subtracts no maximum there (official numerics) — the rest are 0.
    Without it, a plain max-subtracted softmax. ``inplace`` reuses ``similarity``'s
    storage (top-k only). ``return_usage`` also returns the affinity summed over
    queries (B, N). A ``top_k`` above N keeps all N tokens (the official code
    fails there, e.g. on frames under 16·√top_k pixels).
    """
    if top_k is not None:
        values, indices = torch.topk(similarity, k=min(top_k, similarity.shape[1]), dim=1)
        weights = values.exp()
        weights = weights / weights.sum(dim=1, keepdim=True)
        target = similarity.zero_() if inplace else torch.zeros_like(similarity)
        affinity = target.scatter_(1, indices, weights)
    else:
        affinity = torch.softmax(similarity, dim=1)
    if return_usage:
        return affinity, affinity.sum(dim=2)
    return affinity


def get_affinity(mk: Tensor, ms: Optional[Tensor], qk: Tensor, qe: Optional[Tensor]) -> Tensor:
    """Plain-softmax affinity (training): (B, N, HW)."""
    return do_softmax(get_similarity(mk, ms, qk, qe))


def readout(affinity: Tensor, mv: Tensor) -> Tensor:
    """Memory values (B, CV, T, h, w) read with (B, T·h·w, h·w) affinity → (B, CV, h, w)."""
    batch, channels = mv.shape[:2]
    out = torch.bmm(mv.reshape(batch, channels, -1), affinity)
    return out.view(batch, channels, *mv.shape[-2:])
