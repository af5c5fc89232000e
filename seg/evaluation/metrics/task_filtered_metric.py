"""One task's metric in a run whose samples mix FastSAM2's tasks."""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from seg.registry import METRICS


@METRICS.register_module()
class TaskFilteredMetric(BaseMetric):
    """Score with ``metric`` only the results whose ``task`` is ``task``.

    mmengine's ``Evaluator`` hands every result to every metric; a FastSAM2
    run mixes tasks, and the model names each result's task (metainfo
    ``task``, a top-level key of the result dict: ``'interactive'``,
    ``'vos'``, ...). This wrapper passes the results of ``task`` to the wrapped
    metric's ``process`` and scores them with its ``compute_metrics``; results
    of other tasks are skipped. The result names keep the wrapped metric's
    prefix (``davis/J&F-Mean``, ``prompt/mIoU``); give two wrappers of one
    metric type different ``prefix`` in their ``metric`` configs.

    Distributed evaluation: ``collect_results`` interleaves the ranks' lists
    and cuts them to the dataset's size, dropping the sampler's padding, which
    is right only for one entry per sample. So every sample gets one entry
    here, ``(is_task, entries)`` with ``entries`` what the wrapped metric's
    ``process`` appended for it (nothing for other tasks); the entries of
    ``task`` are unpacked after collection. The wrapped metric's own
    ``evaluate`` is not called; ``collect_device`` and ``collect_dir`` are
    taken from it.

    Args:
        task: the task scored (the results' ``task`` value).
        metric: the wrapped metric's config (e.g. ``dict(type='DAVISMetric')``) or a built metric.
    """

    def __init__(self, task: str, metric: Union[dict, BaseMetric]):
        self.metric = METRICS.build(metric) if isinstance(metric, dict) else metric
        if not isinstance(self.metric, BaseMetric):
            raise TypeError(f'TaskFilteredMetric wraps an mmengine BaseMetric, got {type(self.metric).__name__}')
        super().__init__(collect_device=self.metric.collect_device, prefix=self.metric.prefix,
                         collect_dir=self.metric.collect_dir)
        self.task = task

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self.metric.dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        """The Evaluator sets it on each metric: the wrapped one gets it."""
        self.metric.dataset_meta = dataset_meta

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """One entry per sample: the wrapped metric's entries for a sample of ``task``, none for the others.

        Each sample of ``task`` goes through the wrapped ``process`` alone, with the whole ``data_batch``.
        """
        for sample in data_samples:
            if sample.get('task') != self.task:
                self.results.append((False, []))
                continue
            before = len(self.metric.results)
            self.metric.process(data_batch, [sample])
            self.results.append((True, self.metric.results[before:]))
            del self.metric.results[before:]

    def compute_metrics(self, results: List[Tuple[bool, list]]) -> Dict[str, float]:
        """The wrapped metric's numbers over the samples of ``task``; nothing (and a warning) when there are none."""
        entries = [entry for is_task, own in results if is_task for entry in own]
        if not any(is_task for is_task, _ in results):
            print_log(f'{type(self).__name__}: no result of task {self.task!r} was given; '
                      f'{type(self.metric).__name__} reports nothing', logger='current', level=logging.WARNING)
            return {}
        return self.metric.compute_metrics(entries)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(task={self.task!r}, metric={type(self.metric).__name__})'
