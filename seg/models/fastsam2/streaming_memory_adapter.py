"""FastSAM2's streaming memory: object queries read a bounded per-object memory of earlier frames.

Each tracked object owns an :class:`~seg.models.fastsam2.object_memory.ObjectMemory`
(short-term FIFO of ``num_short`` entries, ``num_long`` merged long-term slots;
its module doc gives the merge rule). One frame, for every object alive on it:

1. **query** — a prompt if one is given on this frame (a new object, or a
   re-prompt that replaces the current query and keeps the memory); otherwise a
   **memory read**: the object's current query cross-attends to its memory tokens
   (multi-head attention, residual, LayerNorm, FFN, residual, LayerNorm);
2. **decode** — the pluggable ``decode(queries (K, C), frame_feats (C, H, W))``
   gives refined queries (K, C) and mask logits (K, H, W);
3. **write** — the refined query and the mask-pooled frame feature
   (``sigmoid(logits)``-weighted mean of ``frame_feats`` over H, W) go into memory;
   the refined query becomes the current query.

``step()`` runs one frame on the adapter's own state and detaches what it writes
(a long video keeps no graph); ``forward()`` runs a clip from scratch on a state
of its own and keeps the graph, through the same per-frame code, so both give the
same masks. The memory is plain tensors outside the state dict; ``.to()`` and the
other ``nn.Module`` casts move it with the parameters.

The adapter couples no objects: reads, pooling and the default decode run object
by object, so an object's masks are bit-identical whether or not others are
tracked (a ``decode`` that mixes queries, e.g. by self-attention, does couple them).
"""
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from seg.registry import MODELS
from .object_memory import ObjectMemory

#: ``decode(queries (K, C), frame_feats (C, H, W)) -> (refined queries (K, C), mask logits (K, H, W))``.
DecodeFn = Callable[[Tensor, Tensor], Tuple[Tensor, Tensor]]
#: Smallest mask mass (sum of sigmoid weights over H·W) pooling divides by; guards an all-background mask.
MIN_MASK_MASS = 1e-6


def dot_product_decode(queries: Tensor, frame_feats: Tensor) -> Tuple[Tensor, Tensor]:
    """Default decode: queries unchanged, mask logits ``einsum('kc,chw->khw')``, computed object by object.

    Args:
        queries: (K, C).
        frame_feats: (C, H, W).

    Returns:
        The queries (K, C) and mask logits (K, H, W). One product per object keeps
        each object's logits bit-independent of the others (one batched product may
        round an object's logits differently depending on K).
    """
    logits = [torch.einsum('c,chw->hw', query, frame_feats) for query in queries]
    return queries, torch.stack(logits) if logits else frame_feats.new_zeros(0, *frame_feats.shape[1:])


def mask_pool(mask_logits: Tensor, frame_feats: Tensor) -> Tensor:
    """Frame feature under one object's soft mask.

    Args:
        mask_logits: (H, W) logits.
        frame_feats: (C, H, W).

    Returns:
        (C,): the ``sigmoid(mask_logits)``-weighted mean of ``frame_feats`` over H, W
        (units of ``frame_feats``).
    """
    weights = mask_logits.sigmoid()
    return torch.einsum('hw,chw->c', weights, frame_feats) / weights.sum().clamp_min(MIN_MASK_MASS)


@MODELS.register_module()
class StreamingMemoryAdapter(nn.Module):
    """Per-object memory of past queries and mask-pooled features, read by cross-attention.

    Every parameter takes part in each memory read, so a training clip of two or
    more frames gives all of them a gradient (DDP with
    ``find_unused_parameters=False``); for that reason short- and long-term tokens
    share one embedding (a long-term-only parameter would be unused on clips
    shorter than ``num_short + 2`` frames).

    Args:
        embed_dim: channels C of queries and frame features.
        num_short: short-term FIFO length per object (entries, one per frame).
        num_long: long-term slots per object; entries leaving the FIFO fill them,
            then merge into the most similar (see ``object_memory``). At most
            ``num_short + num_long`` entries (two tokens each) per object.
        num_heads: attention heads of the memory read (must divide ``embed_dim``).
        ffn_ratio: hidden width of the read's FFN, in multiples of ``embed_dim``.
    """

    def __init__(self, embed_dim: int, num_short: int = 4, num_long: int = 4, num_heads: int = 4,
                 ffn_ratio: int = 2):
        super().__init__()
        if num_short < 0 or num_long < 0 or num_short + num_long < 1:
            raise ValueError(f'need num_short, num_long >= 0 and at least one entry of memory; '
                             f'got num_short={num_short}, num_long={num_long}')
        self.embed_dim, self.num_short, self.num_long = embed_dim, num_short, num_long
        # (2, C), added to the keys only, row for row of a memory entry: tells query tokens from pooled-feature ones.
        self.token_kind_embed = nn.Parameter(torch.randn(2, embed_dim) * 0.02)
        self.cross_attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        self.norm_attn = nn.LayerNorm(embed_dim)
        self.ffn = nn.Sequential(nn.Linear(embed_dim, ffn_ratio * embed_dim), nn.GELU(),
                                 nn.Linear(ffn_ratio * embed_dim, embed_dim))
        self.norm_ffn = nn.LayerNorm(embed_dim)
        self._memories: Dict[int, ObjectMemory] = {}

    # ------------------------------------------------------------------ streaming
    @property
    def object_ids(self) -> List[int]:
        """Ids of the tracked objects, sorted."""
        return sorted(self._memories)

    def memory_size(self, obj_id: int) -> int:
        """Entries (frames) held in ``obj_id``'s memory, at most ``num_short + num_long``."""
        return len(self._tracked(obj_id))

    def memory_entries(self, obj_id: int) -> Tensor:
        """``obj_id``'s memory (N, 2, C): per entry its query and pooled feature; long-term slots first."""
        return self._tracked(obj_id).entries()

    def reset(self) -> None:
        """Forget every object."""
        self._memories = {}

    def step(self, frame_feats: Tensor, prompts: Optional[Dict[int, Tensor]] = None, remove: Iterable[int] = (),
             decode: Optional[DecodeFn] = None) -> Tuple[List[int], Tensor]:
        """Track one frame on the adapter's state; what is written to memory is detached.

        ``remove`` is applied first, so removing and prompting an id on one frame
        restarts it with an empty memory.

        Args:
            frame_feats: (C, H, W) features of this frame.
            prompts: object id → (C,) query: a new object, or a re-prompt of a tracked
                one (its query is replaced for this frame, its memory kept).
            remove: ids of tracked objects to drop before this frame.
            decode: see ``DecodeFn``; None is :func:`dot_product_decode`.

        Returns:
            The ids alive on this frame, sorted, and their mask logits (K, H, W).

        Raises:
            KeyError: an id in ``remove`` is not tracked (nothing is removed then).
        """
        prompts = dict(prompts or {})
        remove = set(remove)
        unknown = sorted(remove - self._memories.keys())
        if unknown:
            raise KeyError(f'cannot remove object(s) {unknown}: not tracked (tracked: {self.object_ids})')
        self._check_feats(frame_feats, 'frame_feats', 3)
        for obj_id, query in prompts.items():
            if query.shape != (self.embed_dim, ):
                raise ValueError(f'prompt of object {obj_id} must have shape ({self.embed_dim},), got '
                                 f'{tuple(query.shape)}')
        for obj_id in remove:
            del self._memories[obj_id]
        return self._track_frame(self._memories, frame_feats, prompts, decode, detach=True)

    # ------------------------------------------------------------------ training
    def forward(self, frame_feats: Tensor, init_queries: Tensor, decode: Optional[DecodeFn] = None) -> Tensor:
        """Track a clip from scratch, keeping the graph; the adapter's streaming state is left alone.

        Equals ``reset()``, ``step(frame_feats[0], dict(enumerate(init_queries)))``,
        then ``step(frame_feats[t])`` for t = 1 .. T-1, mask for mask.

        Args:
            frame_feats: (T, C, H, W) features of the clip.
            init_queries: (K, C) queries of objects 0 .. K-1, decoded on frame 0.
            decode: see ``DecodeFn``; None is :func:`dot_product_decode`.

        Returns:
            Mask logits (T, K, H, W).
        """
        self._check_feats(frame_feats, 'frame_feats', 4)
        if init_queries.dim() != 2 or init_queries.shape[1] != self.embed_dim:
            raise ValueError(f'init_queries must be (K, {self.embed_dim}), got {tuple(init_queries.shape)}')
        memories: Dict[int, ObjectMemory] = {}
        masks = [self._track_frame(memories, frame_feats[0], dict(enumerate(init_queries)), decode, detach=False)[1]]
        masks += [self._track_frame(memories, feats, {}, decode, detach=False)[1] for feats in frame_feats[1:]]
        return torch.stack(masks)

    # ------------------------------------------------------------------ internals
    def _tracked(self, obj_id: int) -> ObjectMemory:
        if obj_id not in self._memories:
            raise KeyError(f'object {obj_id} is not tracked (tracked: {self.object_ids})')
        return self._memories[obj_id]

    def _check_feats(self, feats: Tensor, name: str, dims: int) -> None:
        if feats.dim() != dims or feats.shape[-3] != self.embed_dim:
            shape = ('T, ' if dims == 4 else '') + f'{self.embed_dim}, H, W'
            raise ValueError(f'{name} must be ({shape}), got {tuple(feats.shape)}')

    def _read(self, memory: ObjectMemory) -> Tensor:
        """New query (C,) of an object: its current query cross-attends to its memory tokens (2N, C)."""
        entries = memory.entries()
        keys = (entries + self.token_kind_embed).flatten(0, 1)[None]
        query = memory.query[None, None]
        attended = self.cross_attn(query, keys, entries.flatten(0, 1)[None], need_weights=False)[0]
        query = self.norm_attn(query + attended)
        return self.norm_ffn(query + self.ffn(query))[0, 0]

    def _track_frame(self, memories: Dict[int, ObjectMemory], frame_feats: Tensor, prompts: Dict[int, Tensor],
                     decode: Optional[DecodeFn], detach: bool) -> Tuple[List[int], Tensor]:
        """Query, decode and write one frame for ``memories`` plus the new ids in ``prompts`` (updated in place)."""
        ids = sorted(memories.keys() | prompts.keys())
        if not ids:
            return ids, frame_feats.new_zeros(0, *frame_feats.shape[1:])
        queries = torch.stack([prompts[obj_id] if obj_id in prompts else self._read(memories[obj_id])
                               for obj_id in ids])
        refined, mask_logits = (decode or dot_product_decode)(queries, frame_feats)
        if refined.shape != queries.shape or mask_logits.shape != (len(ids), *frame_feats.shape[1:]):
            raise ValueError(f'decode must return queries {tuple(queries.shape)} and mask logits '
                             f'{(len(ids), *frame_feats.shape[1:])}, got {tuple(refined.shape)} and '
                             f'{tuple(mask_logits.shape)}')
        for obj_id, query, logits in zip(ids, refined, mask_logits):
            pooled = mask_pool(logits, frame_feats)
            if detach:
                query, pooled = query.detach(), pooled.detach()
            memories.setdefault(obj_id, ObjectMemory(self.num_short, self.num_long)).write(query, pooled)
        return ids, mask_logits

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> 'StreamingMemoryAdapter':
        """Move or cast the memory along with parameters and buffers (``.to()``, ``.half()``, …)."""
        super()._apply(fn, recurse)
        for memory in self._memories.values():
            memory.apply(fn)
        return self
