"""Decide each sample's task from the fields it carries, so one batch can mix tasks."""
from typing import Dict, List, Mapping, Optional

import torch.nn as nn
from mmdet.structures import DetDataSample, SampleList, TrackDataSample
from torch import Tensor

from seg.fileio.errors import InputError
from seg.registry import MODELS

#: The tasks FastSAM2 knows, in the order their groups are run.
TASKS = ('panoptic', 'video_instance', 'interactive', 'vos', 'referring')
#: Prompt fields a sample may carry (see :class:`PromptFusion`).
PROMPT_FIELDS = frozenset({'points', 'point_labels', 'boxes', 'has_box', 'masks', 'has_mask', 'texts'})
#: The spatial prompts of interactive segmentation.
SPATIAL_FIELDS = frozenset({'points', 'boxes', 'masks'})


class TaskError(InputError):
    """A sample whose fields match no task (names the fields and what each task needs)."""


def _describe(fields) -> str:
    return ', '.join(sorted(fields)) or 'no prompt fields'


@MODELS.register_module()
class TaskRouter(nn.Module):
    """Route samples to tasks and weight each task's losses.

    The task of a sample follows from its fields alone:

    ============================  ===================================================
    ``DetDataSample``             no ``prompts`` → ``panoptic``;
                                  ``prompts`` with ``texts`` → ``referring``;
                                  ``prompts`` with points / boxes / masks → ``interactive``
    ``TrackDataSample`` (a clip)  no frame with ``prompts`` → ``video_instance``;
                                  prompts with masks only → ``vos``;
                                  prompts with points or boxes → ``interactive``
    ============================  ===================================================

    Anything else (text on a clip, a ``prompts`` field with none of the prompt
    fields, unknown prompt fields) is a :class:`TaskError` naming the fields.
    The router holds no weights: it is a module so that the config builds it and
    ``print(model)`` shows the task weights.

    Args:
        loss_weights: multiplies every loss of a task, e.g. ``dict(vos=2.0)``;
            tasks not named keep 1.0.
        tasks: the tasks this model trains and predicts; a sample of another
            task is a :class:`TaskError`.
    """

    def __init__(self, loss_weights: Optional[Mapping[str, float]] = None, tasks=TASKS):
        super().__init__()
        unknown = set(tasks) - set(TASKS) | set(loss_weights or {}) - set(TASKS)
        if unknown:
            raise ValueError(f'TaskRouter: unknown task(s) {sorted(unknown)}; FastSAM2 knows {list(TASKS)}')
        self.tasks = tuple(t for t in TASKS if t in tasks)
        self.loss_weights = {task: float((loss_weights or {}).get(task, 1.0)) for task in self.tasks}

    def extra_repr(self) -> str:
        return f'loss_weights={self.loss_weights}'

    def task_of(self, sample) -> str:
        """The task of one data sample (see the class docstring)."""
        task = self._task_from_fields(sample)
        if task not in self.tasks:
            raise TaskError(f'{_name(sample)} is a {task!r} sample, but this model was configured for '
                            f'{list(self.tasks)}; add {task!r} to the TaskRouter\'s tasks or drop such samples')
        return task

    def _task_from_fields(self, sample) -> str:
        if isinstance(sample, TrackDataSample):
            fields = set()
            for frame in sample:
                if 'prompts' in frame:
                    fields |= self._prompt_fields(frame, _name(sample))
            if not fields:
                return 'video_instance'
            if 'texts' in fields:
                raise TaskError(f'{_name(sample)}: a clip with text prompts ({_describe(fields)}); referring '
                                'segmentation takes images: give the clip points, boxes or masks, or send '
                                'the sentence with one frame as an image sample')
            return 'interactive' if fields & {'points', 'boxes'} else 'vos'
        if not isinstance(sample, DetDataSample):
            raise TaskError(f'a data sample must be a DetDataSample (image) or a TrackDataSample (clip); '
                            f'got {type(sample).__name__}')
        if 'prompts' not in sample:
            return 'panoptic'
        fields = self._prompt_fields(sample, _name(sample))
        if 'texts' in fields:
            return 'referring'
        return 'interactive'

    @staticmethod
    def _prompt_fields(sample, name: str) -> set:
        fields = set(sample.prompts.keys())
        unknown = fields - PROMPT_FIELDS
        if unknown:
            raise TaskError(f'{name}: unknown prompt field(s) {sorted(unknown)}; prompts may hold '
                            f'{sorted(PROMPT_FIELDS)}')
        if not fields & (SPATIAL_FIELDS | {'texts'}):
            raise TaskError(f'{name}: its prompts carry {_describe(fields)}, which is no prompt: give points '
                            '(with point_labels), boxes, masks or texts')
        return fields

    def route(self, data_samples: SampleList) -> Dict[str, List[int]]:
        """Group a batch by task: ``{task: [sample indices]}`` in :data:`TASKS` order.

        Each sample's task is also written to its metainfo (``task``), so the
        metrics of a mixed run can pick their samples.
        """
        groups: Dict[str, List[int]] = {}
        for index, sample in enumerate(data_samples):
            task = self.task_of(sample)
            sample.set_metainfo(dict(task=task))
            groups.setdefault(task, []).append(index)
        return {task: groups[task] for task in self.tasks if task in groups}

    def weigh(self, task: str, losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``losses`` of one task, weighted and renamed ``<task>.<name>``."""
        weight = self.loss_weights[task]
        return {f'{task}.{name}': value * weight if 'loss' in name else value for name, value in losses.items()}


def _name(sample) -> str:
    if isinstance(sample, TrackDataSample):
        first = sample[0] if len(sample) else None
        video = sample.metainfo.get('video_name') or (first.metainfo.get('img_path') if first else None)
        return f'clip {video}' if video else 'a clip'
    path = sample.metainfo.get('img_path') if hasattr(sample, 'metainfo') else None
    return f'sample {path}' if path else 'a sample'
