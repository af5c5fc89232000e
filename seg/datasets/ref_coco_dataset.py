"""RefCOCO / RefCOCO+ / RefCOCOg referring segmentation: one sentence, one object mask per item.

The files are those mmdet's ``RefCocoDataset`` reads, with the same arguments
(``data_root``, ``ann_file``, ``split_file``, ``data_prefix=dict(img_path=...)``,
``split``)::

    <data_root>/train2014/COCO_train2014_<id:012d>.jpg
    <data_root>/refcoco/instances.json    # COCO instances: images, annotations, categories
    <data_root>/refcoco/refs(unc).p       # pickle: [{ref_id, ann_id, image_id, split, sentences, ...}]

(``tools/data/make_toy_data.py --layouts refcoco`` writes a toy copy.)  Unlike mmdet's dataset,
which gives one item per image holding all its refs, an item here is one referred object and one
sentence, as referring segmentation models train and are scored:

* ``text_mode='all'`` (default; for evaluation): one item per (ref, sentence) pair, in file order,
  so every sentence is scored once, as RefCOCO's protocol does;
* ``text_mode='random'`` (for training): one item per ref; each time the item is fetched one of its
  sentences is drawn at random (Python's ``random``, which mmengine seeds per worker).

Each item's data info holds ``img_path``, ``img_id``, ``height``, ``width``, ``ref_id``, ``ann_id``,
``category_id``, ``texts`` / ``sent_ids`` (the item's sentences, lower-cased ``raw`` as mmdet reads
them) and ``instances``: one ``{bbox: [x1, y1, x2, y2], bbox_label, mask: COCO polygons or RLE,
ignore_flag: 0}``, the referred object (mmdet's ``LoadAnnotations`` reads it).  When the item is
fetched, ``text`` (str) and ``sent_id`` (int) say which sentence it carries;
``PackReferringInputs`` puts the sentence into ``data_samples.prompts.texts``.  Pipelines::

    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='Resize', scale=(480, 480), keep_ratio=True),
        dict(type='PackReferringInputs'),
    ]
    test_pipeline = [  # annotations loaded after Resize stay at the original size, as ReferringMetric wants
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(480, 480), keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='PackReferringInputs'),
    ]

No horizontal flips: sentences say 'left' and 'right'.  The refs pickle is read with
:func:`seg.fileio.load_plain_pickle`, which refuses any global the file names, so a tampered file
cannot run code; it and a corrupt json fail with an :class:`~seg.fileio.InputError` naming the file.
"""
import os.path as osp
import random
from typing import Dict, List, Optional, Sequence

import mmengine
from mmdet.datasets import BaseDetDataset

from seg.fileio import InputError, load_plain_pickle
from seg.registry import DATASETS

#: How an item picks its sentence: every (ref, sentence) pair an item, or one item per ref and a random sentence.
TEXT_MODES = ('all', 'random')
#: The keys :class:`RefCOCODataset` reads from each ref of the refs pickle.
REF_KEYS = ('ref_id', 'ann_id', 'split', 'sentences')


class RefCOCODataError(InputError):
    """RefCOCO annotation files that cannot be read or do not fit together."""


@DATASETS.register_module()
class RefCOCODataset(BaseDetDataset):
    """RefCOCO-style referring segmentation: items of one sentence and the one object it refers to.

    Args:
        data_root: Folder holding the images' folder and the annotation files.
        ann_file: COCO instances json, relative to ``data_root`` (default ``'refcoco/instances.json'``;
            ``'refcoco+/instances.json'``, ``'refcocog/instances.json'`` for the others).
        split_file: The refs pickle, relative to ``data_root`` (default ``'refcoco/refs(unc).p'``;
            ``'refcocog/refs(umd).p'`` for RefCOCOg's UMD splits).
        data_prefix: ``dict(img_path=<images folder>)``, relative to ``data_root`` (default ``'train2014/'``).
        split: Which refs: ``'train'``, ``'val'``, ``'testA'``, ``'testB'`` (RefCOCO, RefCOCO+) or
            ``'test'`` (RefCOCOg).
        text_mode: ``'all'`` (one item per (ref, sentence) pair) or ``'random'`` (one item per ref, a
            random sentence each fetch); see the module's description.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset`'s (``pipeline``, ``test_mode``, ``metainfo``,
            ``backend_args``, ...).  ``metainfo['classes']``, when given, names the categories to keep
            labels for (label = index in it); by default the json's categories in id order.
    """

    def __init__(self,
                 data_root: str,
                 ann_file: str = 'refcoco/instances.json',
                 split_file: str = 'refcoco/refs(unc).p',
                 data_prefix: Optional[Dict[str, str]] = None,
                 split: str = 'train',
                 text_mode: str = 'all',
                 **kwargs) -> None:
        if text_mode not in TEXT_MODES:
            raise ValueError(f'text_mode must be one of {TEXT_MODES}, got {text_mode!r}')
        self.split_file = split_file
        self.split = split
        self.text_mode = text_mode
        super().__init__(data_root=data_root, ann_file=ann_file,
                         data_prefix=dict(img_path='train2014/') if data_prefix is None else data_prefix, **kwargs)

    def _join_prefix(self) -> None:
        if self.split_file and not mmengine.is_abs(self.split_file):
            self.split_file = osp.join(self.data_root, self.split_file)
        super()._join_prefix()

    def _load_instances(self) -> dict:
        """The instances json, checked for the parts read: ``{images, annotations, categories}``."""
        try:
            instances = mmengine.load(self.ann_file, file_format='json', backend_args=self.backend_args)
        except FileNotFoundError as err:
            raise RefCOCODataError(f'{self.ann_file} not found (check data_root and ann_file)') from err
        except (OSError, ValueError) as err:
            raise RefCOCODataError(f'cannot read {self.ann_file}: {err} (corrupt? replace it with the original)'
                                   ) from err
        if not isinstance(instances, dict) or not all(
                isinstance(instances.get(k), list) for k in ('images', 'annotations', 'categories')):
            raise RefCOCODataError(f'{self.ann_file} is not a COCO instances json: it needs the lists images, '
                                   'annotations and categories')
        return instances

    def _load_refs(self) -> List[dict]:
        """The refs pickle, checked for the parts read (a list of dicts with :data:`REF_KEYS`)."""
        refs = load_plain_pickle(self.split_file)
        if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
            raise RefCOCODataError(f'{self.split_file} is not a refs file: it holds a {type(refs).__name__}, '
                                   'not a list of refs (dicts)')
        for ref in refs:
            missing = [k for k in REF_KEYS if k not in ref]
            sentences = ref.get('sentences')
            if missing or not isinstance(sentences, list) or not sentences or not all(
                    isinstance(s, dict) and isinstance(s.get('raw'), str) and 'sent_id' in s for s in sentences):
                what = f'lacks {missing}' if missing else 'has no list of sentences {raw, sent_id}'
                raise RefCOCODataError(f'{self.split_file}: ref {ref.get("ref_id", "?")} {what}')
        return refs

    def _class_labels(self, categories: Sequence[dict]) -> Dict[int, int]:
        """Label of each category id (index in ``metainfo['classes']``, filled from the json when not given)."""
        names = {c['id']: c['name'] for c in categories}
        classes = self._metainfo.get('classes') or tuple(names[i] for i in sorted(names))
        self._metainfo['classes'] = tuple(classes)
        return {cat_id: list(classes).index(name) for cat_id, name in names.items() if name in classes}

    def load_data_list(self) -> List[dict]:
        """One data info per (ref, sentence) pair (``text_mode='all'``) or per ref (``'random'``) of ``split``."""
        refs = self._load_refs()
        instances = self._load_instances()
        labels = self._class_labels(instances['categories'])
        anns = {a['id']: a for a in instances['annotations']}
        images = {i['id']: i for i in instances['images']}
        join_path = mmengine.fileio.get_file_backend(self.data_prefix['img_path']).join_path
        data_list = []
        for ref in refs:
            if ref['split'] != self.split:
                continue
            ann = anns.get(ref['ann_id'])
            if ann is None or ann['image_id'] not in images:
                missing = f'annotation {ref["ann_id"]}' if ann is None else f'image {ann["image_id"]}'
                raise RefCOCODataError(f'ref {ref["ref_id"]} of {self.split_file} refers to {missing}, which '
                                       f'{self.ann_file} does not hold: are they the same dataset\'s files?')
            if ann['category_id'] not in labels:
                raise RefCOCODataError(f'ref {ref["ref_id"]}: category {ann["category_id"]} of {self.ann_file} is '
                                       f'not among metainfo classes {self._metainfo["classes"]}')
            image = images[ann['image_id']]
            x, y, w, h = ann['bbox']
            info = dict(img_path=join_path(self.data_prefix['img_path'], image['file_name']), img_id=image['id'],
                        height=image['height'], width=image['width'], ref_id=ref['ref_id'], ann_id=ann['id'],
                        category_id=ann['category_id'],
                        instances=[dict(bbox=[x, y, x + w, y + h], bbox_label=labels[ann['category_id']],
                                        mask=ann['segmentation'], ignore_flag=0)])
            sentences = [(s['raw'].lower(), s['sent_id']) for s in ref['sentences']]
            groups = [[s] for s in sentences] if self.text_mode == 'all' else [sentences]
            for group in groups:
                data_list.append(dict(info, texts=[t for t, _ in group], sent_ids=[i for _, i in group]))
        if not data_list:
            found = sorted({str(r['split']) for r in refs})
            raise RefCOCODataError(f'no refs of split {self.split!r} in {self.split_file} (its splits: {found})')
        return data_list

    def prepare_data(self, idx: int):
        """The item through the pipeline, with ``text`` / ``sent_id`` set to its sentence (random ones in 'random')."""
        data_info = self.get_data_info(idx)
        pick = random.randrange(len(data_info['texts'])) if self.text_mode == 'random' else 0
        data_info['text'] = data_info['texts'][pick]
        data_info['sent_id'] = data_info['sent_ids'][pick]
        return self.pipeline(data_info)
