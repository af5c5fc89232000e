"""Key/value memory for XMem's working and long-term stores.

Keys, shrinkage, selection and usage are single tensors (1, C, N) shared by all
objects. Objects first given on the same frame form a **group**; each group
keeps its own values (n_g, CV, N_g), covering the tokens stored since the group
started. As in the official code, a group's values are aligned to the **last**
N_g keys — after working memory is trimmed this can pair a later group's values
with other frames' keys (kept: it is the official numerics).
"""
from typing import List, Optional, Sequence

import torch
from torch import Tensor

#: Initial life count of a new token (usage = use / life).
INITIAL_LIFE = 1e-7


class KeyValueMemoryStore:
    """Tokens of a memory store and their usage statistics.

    Args:
        count_usage: keep use/life counters (needed for consolidation and removal).
    """

    def __init__(self, count_usage: bool):
        self.count_usage = count_usage
        self.k: Optional[Tensor] = None
        self.s: Optional[Tensor] = None
        self.e: Optional[Tensor] = None
        self.v: List[Tensor] = []
        self.obj_groups: List[List[int]] = []
        self.use_count: Optional[Tensor] = None
        self.life_count: Optional[Tensor] = None

    # ------------------------------------------------------------------ sizes
    @property
    def size(self) -> int:
        """Number of key tokens."""
        return 0 if self.k is None else self.k.shape[-1]

    @property
    def num_groups(self) -> int:
        return len(self.v)

    def engaged(self) -> bool:
        return self.k is not None

    def get_v_size(self, group: int) -> int:
        """Number of tokens holding values of ``group``."""
        return self.v[group].shape[2]

    # ------------------------------------------------------------------ writing
    def add(self, key: Tensor, value, shrinkage: Optional[Tensor], selection: Optional[Tensor],
            objects: Optional[Sequence[int]]) -> None:
        """Append tokens.

        Args:
            key: (1, CK, n); shrinkage (1, 1, n); selection (1, CK, n) or None.
            value: working memory (``objects`` given): (N, CV, n) for the objects
                ``objects`` (1-based labels, sorted); new labels start a new group.
                Long-term memory (``objects`` None): a list with one (n_g, CV, n') tensor
                or None per group.
        """
        new_use = key.new_zeros(key.shape[0], 1, key.shape[2], dtype=torch.float32)
        new_life = new_use + INITIAL_LIFE
        if self.k is None:
            self.k, self.s, self.e = key, shrinkage, selection
            self.use_count, self.life_count = (new_use, new_life) if self.count_usage else (None, None)
        else:
            self.k = torch.cat([self.k, key], -1)
            if shrinkage is not None:
                self.s = torch.cat([self.s, shrinkage], -1)
            if selection is not None:
                self.e = torch.cat([self.e, selection], -1)
            if self.count_usage:
                self.use_count = torch.cat([self.use_count, new_use], -1)
                self.life_count = torch.cat([self.life_count, new_life], -1)
        if objects is not None:
            remaining = [obj - 1 for obj in objects]
            known = {obj for group in self.obj_groups for obj in group}
            for gi, group in enumerate(self.obj_groups):
                self.v[gi] = torch.cat([self.v[gi], value[group]], -1)
            new_group = [obj for obj in remaining if obj not in known]
            if new_group:
                if sorted(new_group) != new_group or (known and min(new_group) < max(known)):
                    raise ValueError(f'new objects must get labels above the existing ones, in order; got '
                                     f'{[o + 1 for o in new_group]} after {sorted(o + 1 for o in known)}')
                self.v.append(value[new_group])
                self.obj_groups.append(new_group)
        else:
            for gi, group_value in enumerate(value):
                if group_value is None:
                    continue
                # Official bookkeeping: a group's long-term values go to the next free slot.
                if gi < self.num_groups:
                    self.v[gi] = torch.cat([self.v[gi], group_value], -1)
                else:
                    self.v.append(group_value)

    def update_usage(self, usage: Tensor) -> None:
        """Add a read's affinity mass per token (flattened (n,)) and age every token by one read."""
        if not self.count_usage:
            return
        self.use_count += usage.view_as(self.use_count)
        self.life_count += 1

    def get_usage(self) -> Tensor:
        """use / life per token, (1, 1, N)."""
        if not self.count_usage:
            raise RuntimeError('this memory store does not count usage')
        return self.use_count / self.life_count

    # ------------------------------------------------------------------ trimming
    def _keep_tokens(self, keep: Tensor) -> None:
        """Keep keys, shrinkage, selection and usage where the bool (N,) ``keep`` is set (values: the caller)."""
        self.k = self.k[:, :, keep]
        self.s = self.s[:, :, keep] if self.s is not None else None
        self.e = self.e[:, :, keep] if self.e is not None else None
        if self.count_usage:
            self.use_count = self.use_count[:, :, keep]
            self.life_count = self.life_count[:, :, keep]

    def sieve_by_range(self, start: int, end: int, min_size: int) -> None:
        """Drop tokens [start, N + end) (``end`` ≤ 0 counts from the back, 0 = to the end).

        Values of groups shorter than ``min_size`` are left whole, as the official code does.
        """
        stop = self.size + end if end <= 0 else end
        keep = torch.ones(self.size, dtype=torch.bool, device=self.k.device)
        keep[start:stop] = False
        self._keep_tokens(keep)
        for gi in range(self.num_groups):
            if self.v[gi].shape[-1] >= min_size:
                # Official slicing: the same [start, end) positions, counted on the group's own array.
                group_stop = self.v[gi].shape[-1] + end if end <= 0 else end
                self.v[gi] = torch.cat([self.v[gi][:, :, :start], self.v[gi][:, :, group_stop:]], -1)

    def remove_obsolete_features(self, max_size: int) -> None:
        """Drop the least-used tokens until at most ``max_size`` remain.

        The threshold is the (N − max_size)-th smallest usage; only tokens used
        more than it survive (ties go), as officially. Unlike the official code,
        this works with several object groups (each group's values follow its
        last tokens) and does nothing when nothing needs removing (the official
        code fails with an IndexError when N == max_size).
        """
        excess = self.size - max_size
        if excess <= 0:
            return
        usage = self.get_usage().flatten()
        threshold = torch.topk(usage, k=excess, largest=False, sorted=True).values[-1]
        keep = usage > threshold
        self._keep_tokens(keep)
        for gi in range(self.num_groups):
            self.v[gi] = self.v[gi][:, :, keep[keep.numel() - self.v[gi].shape[-1]:]]

    def get_all_sliced(self, start: int, end: int):
        """key, shrinkage, selection and usage of tokens [start, N + end) (``end`` 0 = to the end)."""
        stop = None if end == 0 else end
        k = self.k[:, :, start:stop]
        sk = self.s[:, :, start:stop] if self.s is not None else None
        ek = self.e[:, :, start:stop] if self.e is not None else None
        return k, sk, ek, self.get_usage()[:, :, start:stop]

    # ------------------------------------------------------------------ views
    @property
    def key(self) -> Optional[Tensor]:
        return self.k

    @property
    def value(self) -> List[Tensor]:
        return self.v

    @property
    def shrinkage(self) -> Optional[Tensor]:
        return self.s

    @property
    def selection(self) -> Optional[Tensor]:
        return self.e
