"""Concatenate datasets under one joint class vocabulary (RAP-SAM's ``ConcatOVDataset``).

RapSAM classifies queries against one vocabulary of class-name embeddings, so
a training mix of datasets with their own class lists (COCO panoptic's 80
things + 53 stuff, YouTube-VIS 2019's 40 classes) needs one joint list and
every sample's labels in it. The joint list is made source by source, in
order: a class joins an existing joint class of its kind (thing or stuff)
when their synonym sets intersect, otherwise it is appended. Synonyms are the
name's comma-separated pieces after ``'/'`` -> ``','`` and ``'_'`` -> ``' '``
(RAP-SAM's rule, so ``'tennis_racket'`` joins ``'tennis racket'``); a new
class is listed under that rewritten name. Joint ids are the things first,
then the stuff: ``classes = thing_classes + stuff_classes``.

COCO panoptic then YouTube-VIS 2019 give 102 things + 53 stuff: 18 YouTube-VIS
classes join COCO ones (``person``, ``dog``, ``mouse``, ...) and 22 are new.
"""
import copy
import logging
from typing import FrozenSet, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from torch import Tensor

from seg.registry import DATASETS

#: Label of every instance of a class-agnostic source (it has no class in the joint vocabulary).
CLASS_AGNOSTIC_LABEL = -1
#: Value of unlabelled pixels in ``gt_sem_seg`` (mmdet's panoptic VOID); it stays as it is.
SEM_SEG_VOID = 255


def class_synonyms(name: str) -> FrozenSet[str]:
    """The synonyms two class names are matched on: ``'a/b_c'`` -> ``{'a', 'b c'}``."""
    return frozenset(_joint_name(name).split(','))


def _joint_name(name: str) -> str:
    """How a class is listed in the joint vocabulary: ``'/'`` -> ``','``, ``'_'`` -> ``' '``."""
    return name.replace('/', ',').replace('_', ' ')


def _merge_classes(joint: List[str], names: Sequence[str]) -> List[int]:
    """Add ``names`` to the joint list ``joint`` (in place); return each name's joint index."""
    indices = []
    for name in names:
        synonyms = class_synonyms(name)
        match = next((i for i, other in enumerate(joint) if synonyms & class_synonyms(other)), None)
        if match is None:
            joint.append(_joint_name(name))
            match = len(joint) - 1
        indices.append(match)
    return indices


def _source_vocabulary(metainfo: dict, where: str) -> Tuple[Sequence[str], Sequence[str]]:
    """``(thing_classes, stuff_classes)`` of a dataset; without ``thing_classes`` all ``classes`` are things."""
    classes = list(metainfo['classes'])
    things = list(metainfo.get('thing_classes', classes))
    stuff = list(metainfo.get('stuff_classes', ()))
    if things + stuff != classes:
        raise ValueError(f'{where}: metainfo classes must be thing_classes + stuff_classes in that order '
                         f'(its labels index classes), got {len(classes)} classes, {len(things)} things, '
                         f'{len(stuff)} stuff')
    return things, stuff


def _innermost(dataset):
    """The dataset inside wrappers such as ``RepeatDataset`` / ``ClassBalancedDataset``."""
    while not isinstance(dataset, BaseDataset) and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset


def _with_lazy_init(cfg: dict) -> dict:
    """A copy of a dataset config (and of the configs it wraps) with ``lazy_init=True``."""
    cfg = copy.deepcopy(cfg)
    cfg['lazy_init'] = True
    if isinstance(cfg.get('dataset'), dict):
        cfg['dataset'] = _with_lazy_init(cfg['dataset'])
    if isinstance(cfg.get('datasets'), (list, tuple)):
        cfg['datasets'] = [_with_lazy_init(c) if isinstance(c, dict) else c for c in cfg['datasets']]
    return cfg


@DATASETS.register_module()
class VocabularyConcatDataset(ConcatDataset):
    """mmengine's ``ConcatDataset`` whose samples carry labels of one joint vocabulary.

    ``metainfo`` holds the joint ``classes``, ``thing_classes``,
    ``stuff_classes`` and ``dataset_name`` (what ``tools/gen_cls.py`` names
    the class-embedding file after); the sources' own metainfo (palettes,
    class lists) is not kept, so the sources need not agree on it.
    ``dataset_name`` is RAP-SAM's: the class-aware sources' ``dataset_name``
    (else class name) joined by ``'_'``, with ``'Concat_'`` in front when there
    are several, e.g. ``'Concat_CocoPanopticDataset_YouTubeVISDataset_2019'``.

    ``__getitem__`` returns the source's packed sample (after its pipeline, so
    pipelines stay as they are) with, in the ``DetDataSample`` and in every
    frame of a ``TrackDataSample``:

    - ``gt_instances.labels`` and ``ignored_instances.labels`` in joint ids;
    - ``gt_sem_seg.sem_seg`` in joint ids (stuff and, if present, thing
      pixels; ``255`` stays void);
    - ``data_tag`` in the metainfo (also of the ``TrackDataSample``) when
      ``data_tags`` is given.

    A class-agnostic source (its tag in ``class_agnostic_tags``, or no
    ``classes`` in its metainfo) adds no class to the vocabulary and is left
    out of ``dataset_name``; its samples keep their masks, every instance gets
    label ``-1`` (:data:`CLASS_AGNOSTIC_LABEL`, as in RAP-SAM: no joint class
    may be claimed for it; RapSAM's prompt path reads masks, not labels) and
    its semantic map becomes all void (RAP-SAM maps it to -1; void keeps the
    map a valid, ignored target).

    Args:
        datasets: the sources, as configs (built through
            :data:`seg.registry.DATASETS` in the ``seg`` scope, lazily) or as
            datasets; wrappers such as ``RepeatDataset`` are allowed.
        data_tags: one task tag per source (e.g. ``('coco', 'yt19', 'sam')``),
            written as ``data_tag`` into each sample's metainfo; None writes none.
        class_agnostic_tags: tags of sources whose classes are not used.
        lazy_init: defer loading the annotations until ``full_init`` (or the
            first ``len`` / ``cumulative_sizes`` / indexing); the vocabulary
            needs only the metainfo.

    Attributes:
        label_maps: per source, a (num source classes,) int64 tensor: source
            label -> joint id; None for a class-agnostic source.
        class_agnostic: per source, whether it is class-agnostic.
        dataset_name: as in ``metainfo``.
    """

    def __init__(self,
                 datasets: Sequence[Union[BaseDataset, dict]],
                 data_tags: Optional[Sequence[str]] = None,
                 class_agnostic_tags: Sequence[str] = ('sam', ),
                 lazy_init: bool = False):
        if not datasets:
            raise ValueError('VocabularyConcatDataset needs at least one dataset')
        if data_tags is not None and len(data_tags) != len(datasets):
            raise ValueError(f'data_tags must give one tag per dataset: {len(datasets)} datasets, '
                             f'{len(data_tags)} tags {tuple(data_tags)}')
        self.data_tags = tuple(data_tags) if data_tags is not None else None
        self.class_agnostic_tags = tuple(class_agnostic_tags)
        # mmengine's ConcatDataset.__init__ is not called: it accepts no built
        # wrapper and insists on equal metainfo, which differing vocabularies
        # never have. What it sets up is set up here.
        with DefaultScope.overwrite_default_scope(DATASETS.scope):
            self.datasets = [DATASETS.build(_with_lazy_init(d)) if isinstance(d, dict) else d for d in datasets]
        self._fully_initialized = False

        self.class_agnostic = [self._is_class_agnostic(i) for i in range(len(self.datasets))]
        thing_classes, stuff_classes = [], []
        source_maps = []
        for source, dataset in enumerate(self.datasets):
            if self.class_agnostic[source]:
                source_maps.append(None)
                continue
            things, stuff = _source_vocabulary(dataset.metainfo, f'dataset #{source} ({self.source_name(source)})')
            source_maps.append((_merge_classes(thing_classes, things), _merge_classes(stuff_classes, stuff)))
        # Source label -> joint id: things keep their joint thing index, stuff comes after all joint things.
        self.label_maps: List[Optional[Tensor]] = [
            None if maps is None else
            torch.tensor(maps[0] + [len(thing_classes) + i for i in maps[1]], dtype=torch.long)
            for maps in source_maps
        ]
        named = [self.source_name(i) for i in range(len(self.datasets)) if not self.class_agnostic[i]]
        self.dataset_name = ('Concat_' if len(named) > 1 else '') + '_'.join(named)
        self._metainfo = dict(classes=tuple(thing_classes + stuff_classes), thing_classes=tuple(thing_classes),
                              stuff_classes=tuple(stuff_classes), dataset_name=self.dataset_name)
        if not lazy_init:
            self.full_init()
        self._log_vocabulary()

    @property
    def cumulative_sizes(self) -> List[int]:
        """End index (exclusive) of each source; loads the annotations first if still lazy."""
        if not self._fully_initialized:
            self.full_init()
        return self._cumulative_sizes

    @cumulative_sizes.setter
    def cumulative_sizes(self, value: List[int]) -> None:
        # Set by torch's ConcatDataset.__init__, which mmengine's full_init calls.
        self._cumulative_sizes = value

    def source_name(self, source: int) -> str:
        """``dataset_name`` of a source (inside its wrappers), else its class name."""
        dataset = _innermost(self.datasets[source])
        return getattr(dataset, 'dataset_name', None) or type(dataset).__name__

    def get_dataset_source(self, idx: int) -> int:
        """Index (into ``datasets``) of the source that sample ``idx`` comes from."""
        source, _ = self._get_ori_dataset_idx(idx)
        return source

    def __getitem__(self, idx: int) -> dict:
        source, sample_idx = self._get_ori_dataset_idx(idx)
        results = self.datasets[source][sample_idx]
        samples = results.get('data_samples') if isinstance(results, dict) else None
        if isinstance(samples, TrackDataSample):
            frames = list(samples)
        elif isinstance(samples, DetDataSample):
            frames = [samples]
        else:
            raise TypeError(f'dataset #{source} ({self.source_name(source)}) must pack its samples '
                            '(PackDetInputs / PackVideoSegInputs) so that their labels can be mapped; got '
                            f'data_samples of type {type(samples).__name__}')
        for frame in frames:
            self._relabel(frame, source)
        if self.data_tags is not None:
            self._set_data_tag(samples, frames, source)
        return results

    def _is_class_agnostic(self, source: int) -> bool:
        tag = self.data_tags[source] if self.data_tags is not None else None
        return tag in self.class_agnostic_tags or 'classes' not in self.datasets[source].metainfo

    def _relabel(self, sample: DetDataSample, source: int) -> None:
        """Source labels -> joint ids in one image / frame (in place)."""
        label_map = self.label_maps[source]
        for key in ('gt_instances', 'ignored_instances'):
            if key in sample and 'labels' in sample.get(key):
                instances = sample.get(key)
                instances.labels = self._map_labels(instances.labels, label_map, source)
        if 'gt_sem_seg' in sample:
            sample.gt_sem_seg.sem_seg = self._map_sem_seg(sample.gt_sem_seg.sem_seg, label_map, source)

    def _map_labels(self, labels: Tensor, label_map: Optional[Tensor], source: int) -> Tensor:
        if label_map is None:
            return torch.full_like(labels, CLASS_AGNOSTIC_LABEL)
        if labels.numel() and (labels.min() < 0 or labels.max() >= len(label_map)):
            raise ValueError(f'dataset #{source} ({self.source_name(source)}): labels must lie in '
                             f'[0, {len(label_map)}), got {labels.unique().tolist()}')
        return label_map.to(labels.device)[labels].to(labels.dtype)

    def _map_sem_seg(self, sem_seg: Tensor, label_map: Optional[Tensor], source: int) -> Tensor:
        if label_map is None:
            return torch.full_like(sem_seg, SEM_SEG_VOID)
        values = sem_seg.long()
        labelled = values != SEM_SEG_VOID
        if labelled.any() and (values[labelled].min() < 0 or values[labelled].max() >= len(label_map)):
            raise ValueError(f'dataset #{source} ({self.source_name(source)}): gt_sem_seg values must lie in '
                             f'[0, {len(label_map)}) or be {SEM_SEG_VOID}, got {values.unique().tolist()}')
        mapped = values.clone()
        mapped[labelled] = label_map.to(values.device)[values[labelled]]
        if labelled.any() and mapped[labelled].max() >= SEM_SEG_VOID:
            raise ValueError(f'joint class ids reach {SEM_SEG_VOID}, the void value of gt_sem_seg; '
                             f'a vocabulary of {len(self._metainfo["classes"])} classes cannot be a semantic map')
        return mapped.to(sem_seg.dtype)

    def _set_data_tag(self, samples, frames: List[DetDataSample], source: int) -> None:
        tag = self.data_tags[source]
        tagged = [samples] + frames if isinstance(samples, TrackDataSample) else frames
        for sample in tagged:
            packed = sample.metainfo.get('data_tag', tag)
            if packed != tag:
                raise ValueError(f'dataset #{source} ({self.source_name(source)}) is tagged {tag!r} here '
                                 f'but its pipeline packed data_tag={packed!r}')
            sample.set_metainfo(dict(data_tag=tag))

    def _log_vocabulary(self) -> None:
        lines = [f'{type(self).__name__} {self.dataset_name}:']
        for source, dataset in enumerate(self.datasets):
            tag = self.data_tags[source] if self.data_tags is not None else '-'
            kind = 'class-agnostic' if self.class_agnostic[source] else f'{len(self.label_maps[source])} classes'
            times = getattr(dataset, 'times', 1)
            lines.append(f'  #{source} {self.source_name(source)} (tag {tag}, {kind}, repeated x{times})')
        lines.append(f'  joint vocabulary: {len(self._metainfo["thing_classes"])} things + '
                     f'{len(self._metainfo["stuff_classes"])} stuff')
        print_log('\n'.join(lines), logger='current', level=logging.INFO)
