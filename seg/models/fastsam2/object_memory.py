"""One tracked object's memory for ``StreamingMemoryAdapter``: a short-term FIFO and merged long-term slots.

Bookkeeping only (no parameters, no network), so it is tested on its own. An
**entry** is what one frame writes for one object: a (2, C) tensor whose row 0
is the object's refined query and row 1 its mask-pooled frame feature.

* The **short-term FIFO** keeps the last ``num_short`` entries as they were written.
* An entry pushed out of the FIFO goes to the **long-term slots**: while fewer
  than ``num_long`` are filled it takes a new slot (count 1); once all are
  filled it is merged into the slot most similar to it (cosine similarity of
  the flattened (2C,) entry and slot; the first on ties) by a count-weighted
  running average, ``slot ← (count · slot + entry) / (count + 1)``, and that
  slot's count grows by one. A slot is thus the mean of every entry merged into
  it. With ``num_long == 0`` evicted entries are dropped.

The memory therefore never holds more than ``num_short + num_long`` entries.
The merge picks its slot with tensor operations (no ``.item()``), so it runs
without a host synchronisation on an accelerator and stays differentiable in
the merged values (the choice of slot itself has no gradient).
"""
from typing import Callable, List, Optional

import torch
from torch import Tensor


class ObjectMemory:
    """The entries one object wrote on earlier frames and its current query.

    Tensors are stored as given: the caller detaches them for streaming or keeps
    their graphs for training.

    Args:
        num_short: length of the short-term FIFO (entries, >= 0).
        num_long: number of long-term slots (>= 0).
    """

    def __init__(self, num_short: int, num_long: int):
        self.num_short, self.num_long = num_short, num_long
        #: The object's current query (C,): the refined query of its last write; None before the first.
        self.query: Optional[Tensor] = None
        #: Short-term entries, each (2, C), oldest first.
        self.short: List[Tensor] = []
        #: Long-term slots (L, 2, C), L <= num_long; None while empty.
        self.long: Optional[Tensor] = None
        #: Entries merged into each long-term slot, (L,) int64; None while empty.
        self.long_counts: Optional[Tensor] = None

    def __len__(self) -> int:
        """Entries held: short-term plus filled long-term slots."""
        return len(self.short) + (0 if self.long is None else self.long.shape[0])

    def write(self, query: Tensor, pooled: Tensor) -> None:
        """Store one frame: ``query`` (C,) becomes the current query; (query, pooled (C,)) the newest entry."""
        self.query = query
        self.short.append(torch.stack([query, pooled]))
        if len(self.short) > self.num_short:
            self._to_long_term(self.short.pop(0))

    def entries(self) -> Tensor:
        """All entries (N, 2, C): long-term slots first, then short-term oldest to newest."""
        parts = ([] if self.long is None else [self.long]) + ([torch.stack(self.short)] if self.short else [])
        return torch.cat(parts)

    def apply(self, fn: Callable[[Tensor], Tensor]) -> None:
        """Replace every stored tensor ``t`` by ``fn(t)`` (how ``nn.Module._apply`` moves or casts them)."""
        self.query = None if self.query is None else fn(self.query)
        self.short = [fn(entry) for entry in self.short]
        if self.long is not None:
            self.long, self.long_counts = fn(self.long), fn(self.long_counts)

    def _to_long_term(self, entry: Tensor) -> None:
        """Put an entry (2, C) evicted from the FIFO into a free long-term slot or merge it (see the module doc)."""
        if self.num_long == 0:
            return
        count_one = torch.ones(1, dtype=torch.int64, device=entry.device)
        if self.long is None:
            self.long, self.long_counts = entry[None], count_one
        elif self.long.shape[0] < self.num_long:
            self.long = torch.cat([self.long, entry[None]])
            self.long_counts = torch.cat([self.long_counts, count_one])
        else:
            similarity = torch.cosine_similarity(self.long.flatten(1), entry.flatten()[None], dim=1)
            chosen = torch.arange(self.num_long, device=entry.device) == similarity.argmax()
            step = chosen.to(entry.dtype) / (self.long_counts + 1)
            self.long = self.long + step[:, None, None] * (entry[None] - self.long)
            self.long_counts = self.long_counts + chosen.to(torch.int64)
