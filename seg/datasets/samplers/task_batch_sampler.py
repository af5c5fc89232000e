"""Batches that never mix the sources (tasks) of a concatenated training set."""
import bisect
from typing import Iterator, List

from torch.utils.data import BatchSampler, Sampler

from seg.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class TaskBatchSampler(BatchSampler):
    """Group sampled indices by the ``ConcatDataset`` source they come from.

    RapSAM's head decodes one kind of query per batch (object queries for
    panoptic images or video clips, prompt queries for "COCO-SAM" images), and
    images and clips cannot share a tensor. Indices from the wrapped sampler
    wait in one bucket per source until ``batch_size`` of them are there.
    A dataset that is not a concatenation is one source.

    Args:
        sampler: the index sampler (e.g. ``DefaultSampler`` / ``InfiniteSampler``).
        batch_size: samples per batch.
        drop_last: drop the incomplete batches left at the end of an epoch
            (otherwise they are yielded source by source).
    """

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool = False):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f'batch_size must be a positive int, got {batch_size!r}')
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last
        dataset = sampler.dataset
        self._ends = list(getattr(dataset, 'cumulative_sizes', [len(dataset)]))

    def source_of(self, index: int) -> int:
        """Which concatenated dataset ``index`` belongs to."""
        return bisect.bisect_right(self._ends, index)

    def __iter__(self) -> Iterator[List[int]]:
        buckets = [[] for _ in self._ends]
        for index in self.sampler:
            bucket = buckets[self.source_of(index)]
            bucket.append(index)
            if len(bucket) == self.batch_size:
                yield bucket[:]
                bucket.clear()
        if not self.drop_last:
            for bucket in buckets:
                if bucket:
                    yield bucket

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
