"""XMem's frame-gap curriculum: the largest gap between sampled training frames changes during the run."""
from typing import Optional, Sequence

from mmengine.hooks import Hook

from seg.registry import HOOKS


def clip_datasets(dataset):
    """Every dataset with ``set_max_skip`` inside (Concat / Repeat wrappers included)."""
    if hasattr(dataset, 'set_max_skip'):
        yield dataset
    for child in getattr(dataset, 'datasets', []):
        yield from clip_datasets(child)
    if hasattr(dataset, 'dataset'):
        yield from clip_datasets(dataset.dataset)


@HOOKS.register_module()
class MaxSkipCurriculumHook(Hook):
    """Set ``max_skips[i]`` on the training clip datasets once ``fractions[i]`` of ``max_iters`` is reached.

    XMem's stage 2/3 schedule (the default): gap 5 at the start, 10 after 10 %, 15 after 30 %, 5 after 90 %.

    Args:
        fractions: fractions of the run, ascending.
        max_skips: the gap from each fraction on.
        initial: the gap before the first fraction.
        schedule_iters: the iterations the fractions refer to (XMem: ``iterations``, without the fine-tuning
            phase); default the run's ``max_iters``.
    """

    def __init__(self, fractions: Sequence[float] = (0.1, 0.3, 0.9), max_skips: Sequence[int] = (10, 15, 5),
                 initial: int = 5, schedule_iters: Optional[int] = None):
        if len(fractions) != len(max_skips) or list(fractions) != sorted(fractions):
            raise ValueError('fractions must be ascending and as many as max_skips')
        self.fractions, self.max_skips, self.initial = list(fractions), list(max_skips), initial
        self.schedule_iters = schedule_iters

    def value_at(self, iteration: int, max_iters: int) -> int:
        """The gap in force at ``iteration``."""
        value = self.initial
        for fraction, skip in zip(self.fractions, self.max_skips):
            if iteration >= round(max_iters * fraction):
                value = skip
        return value

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        value = self.value_at(runner.iter, self.schedule_iters or runner.max_iters)
        for dataset in clip_datasets(runner.train_dataloader.dataset):
            if dataset.max_jump != max(1, value // dataset.skip_divisor):
                dataset.set_max_skip(value)
