"""XMem's three memories — sensory (hidden state), working, long-term — and the moves between them."""
from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..memory_util import do_softmax, get_similarity
from .kv_memory_store import KeyValueMemoryStore


class MemoryManager:
    """Read and write XMem's memories for one video (batch size 1).

    Reading (:meth:`match_memory`): the query is compared with [long-term,
    working] tokens; group 0 takes a top-k softmax over all of them, a later
    group over the last ``v_size(group)`` rows of each store. The top-k affinity
    summed over query pixels is added to the usage of working (and, with
    ``enable_long_term_count_usage``, long-term) tokens.

    Writing (:meth:`add_memory`): tokens join working memory; when it holds
    ``max_mid_term_frames`` frames, the least-used long-term tokens are removed
    if long-term memory is near ``max_long_term_elements``, then the working
    tokens between the first frame and the last ``min_mid_term_frames − 1``
    frames are consolidated into ``num_prototypes`` long-term prototypes.

    Args:
        config: ``hidden_dim``, ``top_k``, ``enable_long_term``,
            ``enable_long_term_count_usage``, ``max_mid_term_frames``,
            ``min_mid_term_frames``, ``num_prototypes``, ``max_long_term_elements``.
    """

    def __init__(self, config: Mapping):
        self.hidden_dim = config['hidden_dim']
        self.top_k = config['top_k']
        self.enable_long_term = config['enable_long_term']
        self.enable_long_term_usage = config['enable_long_term_count_usage']
        self.max_mt_frames = config['max_mid_term_frames']
        self.min_mt_frames = config['min_mid_term_frames']
        self.num_prototypes = config['num_prototypes']
        self.max_long_elements = config['max_long_term_elements']
        self.value_dim: Optional[int] = None
        self.hw: Optional[int] = None
        self.hidden: Optional[Tensor] = None
        self.work_mem = KeyValueMemoryStore(count_usage=self.enable_long_term)
        self.long_mem = KeyValueMemoryStore(count_usage=self.enable_long_term_usage)

    # ------------------------------------------------------------------ reading
    def match_memory(self, query_key: Tensor, selection: Optional[Tensor]) -> Tensor:
        """Readout for every object: (N, CV, h, w) from (1, CK, h, w) query keys and selection."""
        h, w = query_key.shape[-2:]
        query_key = query_key.flatten(2)
        selection = selection.flatten(2) if selection is not None else None
        num_groups = self.work_mem.num_groups
        if self.enable_long_term and self.long_mem.engaged():
            long_size = self.long_mem.size
            similarity = get_similarity(torch.cat([self.long_mem.key, self.work_mem.key], -1),
                                        torch.cat([self.long_mem.shrinkage, self.work_mem.shrinkage], -1),
                                        query_key, selection)
            work_sim, long_sim = similarity[:, long_size:], similarity[:, :long_size]
            first, usage = do_softmax(torch.cat([long_sim[:, -self.long_mem.get_v_size(0):], work_sim], 1),
                                      top_k=self.top_k, return_usage=True)
            affinity = [first]
            for gi in range(1, num_groups):
                group_work = work_sim[:, -self.work_mem.get_v_size(gi):]
                if gi < self.long_mem.num_groups:
                    group_work = torch.cat([long_sim[:, -self.long_mem.get_v_size(gi):], group_work], 1)
                affinity.append(do_softmax(group_work, top_k=self.top_k))
            values = [torch.cat([self.long_mem.value[gi], v], -1) if gi < self.long_mem.num_groups else v
                      for gi, v in enumerate(self.work_mem.value)]
            self.work_mem.update_usage(usage[:, long_size:].flatten())
            if self.enable_long_term_usage:
                self.long_mem.update_usage(usage[:, :long_size].flatten())
        else:
            similarity = get_similarity(self.work_mem.key, self.work_mem.shrinkage, query_key, selection)
            if self.enable_long_term:
                first, usage = do_softmax(similarity, top_k=self.top_k, return_usage=True)
                self.work_mem.update_usage(usage.flatten())
            else:
                first = do_softmax(similarity, top_k=self.top_k)
            affinity = [first] + [do_softmax(similarity[:, -self.work_mem.get_v_size(gi):], top_k=self.top_k)
                                  for gi in range(1, num_groups)]
            values = self.work_mem.value
        out = torch.cat([v @ a for a, v in zip(affinity, values)], 0)
        return out.view(out.shape[0], self.value_dim, h, w)

    # ------------------------------------------------------------------ writing
    def add_memory(self, key: Tensor, shrinkage: Tensor, value: Tensor, objects: Sequence[int],
                   selection: Optional[Tensor] = None) -> None:
        """Store one frame: key (1, CK, h, w), shrinkage (1, 1, h, w), value (1, N, CV, h, w) of labels ``objects``."""
        self.hw = key.shape[-2] * key.shape[-1]
        key, shrinkage = key.flatten(2), shrinkage.flatten(2)
        value = value[0].flatten(2)
        self.value_dim = value.shape[1]
        selection = selection.flatten(2) if selection is not None else None
        self.work_mem.add(key, value, shrinkage, selection, objects)
        if self.enable_long_term and self.work_mem.size >= self.max_mt_frames * self.hw:
            budget = self.max_long_elements - self.num_prototypes
            if self.long_mem.size >= budget:
                self.long_mem.remove_obsolete_features(budget)
            self.compress_features()

    def compress_features(self) -> None:
        """Consolidate the mid-term working tokens into long-term prototypes and trim working memory."""
        hw = self.hw
        min_elements = self.min_mt_frames * hw
        total = self.work_mem.size
        end = -min_elements + hw
        stop = None if end == 0 else end
        candidates: List[Optional[Tensor]] = []
        for gv in self.work_mem.value:
            length = gv.shape[-1]
            if length == total or length > min_elements + hw:
                candidates.append(gv[:, :, hw:stop])
            else:
                candidates.append(None)
        keys, shrinkage, selection, usage = self.work_mem.get_all_sliced(hw, end)
        prototype_key, prototype_value, prototype_shrinkage = self.consolidation(keys, shrinkage, selection, usage,
                                                                                 candidates)
        self.work_mem.sieve_by_range(hw, end, min_size=min_elements + hw)
        self.long_mem.add(prototype_key, prototype_value, prototype_shrinkage, selection=None, objects=None)

    def consolidation(self, candidate_key: Tensor, candidate_shrinkage: Optional[Tensor],
                      candidate_selection: Optional[Tensor], usage: Tensor, candidate_value: List[Optional[Tensor]]
                      ) -> Tuple[Tensor, List[Optional[Tensor]], Optional[Tensor]]:
        """The ``num_prototypes`` most-used candidates become prototypes, their values a softmax readout.

        Returns:
            prototype keys (1, CK, P), per-group values (n_g, CV, P_g) or None, shrinkage (1, 1, P).
        """
        num_candidates = candidate_key.shape[-1]
        indices = torch.topk(usage, k=self.num_prototypes, dim=-1, sorted=True).indices.flatten()
        validity = [indices >= num_candidates - gv.shape[2] if gv is not None else None for gv in candidate_value]
        prototype_key = candidate_key[:, :, indices]
        prototype_selection = candidate_selection[:, :, indices] if candidate_selection is not None else None
        similarity = get_similarity(candidate_key, candidate_shrinkage, prototype_key, prototype_selection)
        affinity = []
        for gi, gv in enumerate(candidate_value):
            group_affinity = None
            if gv is not None and bool(validity[gi].any()):
                group_affinity = do_softmax(similarity[:, -gv.shape[2]:, validity[gi]])
            affinity.append(group_affinity)
        values = [gv @ a if a is not None else None for a, gv in zip(affinity, candidate_value)]
        prototype_shrinkage = candidate_shrinkage @ affinity[0] if candidate_shrinkage is not None else None
        return prototype_key, values, prototype_shrinkage

    # ------------------------------------------------------------------ sensory memory
    def create_hidden_state(self, num_objects: int, sample_key: Tensor) -> None:
        """Grow the hidden state with zeros to ``num_objects`` (1, N, CH, h, w)."""
        h, w = sample_key.shape[-2:]
        if self.hidden is None:
            self.hidden = sample_key.new_zeros(1, num_objects, self.hidden_dim, h, w)
        elif self.hidden.shape[1] < num_objects:
            extra = sample_key.new_zeros(1, num_objects - self.hidden.shape[1], self.hidden_dim, h, w)
            self.hidden = torch.cat([self.hidden, extra], 1)

    def set_hidden(self, hidden: Tensor) -> None:
        self.hidden = hidden

    def get_hidden(self) -> Optional[Tensor]:
        return self.hidden
