"""YouTube-VIS read from the json files as released, or from mmdet's converted (CocoVID) files."""
import os.path as osp
from collections import defaultdict
from typing import List, Optional

import mmengine
from mmdet.datasets import YouTubeVISDataset as MMDetYouTubeVISDataset
from mmengine.fileio import get_local_path

from seg.registry import DATASETS


@DATASETS.register_module()
class YouTubeVISDataset(MMDetYouTubeVISDataset):
    """mmdet's ``YouTubeVISDataset`` that also reads the official release json.

    The official files hold ``videos`` (``id``, ``file_names``, ``height``,
    ``width``) and per-object ``annotations`` (``segmentations``, ``bboxes``
    [x, y, w, h] and ``areas`` per frame, None where the object is absent);
    the valid and test files hold no annotations. mmdet's converter
    (``youtubevis2coco.py``) rewrites them with one ``images`` entry per frame;
    a file with ``images`` is read by mmdet's code unchanged. A release file
    gives the data list the converted one gives: images numbered from 1 in
    video order, the same frames and instances (the object's annotation ``id``
    is its ``instance_id``, where the converter renumbers them from 1).

    Args:
        dataset_version: ``'2019'`` or ``'2021'`` (the class list).
        *args, **kwargs: ``BaseVideoDataset`` arguments (``ann_file``,
            ``data_prefix=dict(img_path=...)``, ``metainfo`` to replace the
            classes, ``filter_cfg``, ``pipeline``, ``test_mode``, ...).
    """

    def __init__(self, dataset_version: str, *args, **kwargs):
        # RAP-SAM's name for the vocabulary (class-embedding files are named after it).
        self.dataset_name = f'YouTubeVISDataset_{dataset_version}'
        super().__init__(dataset_version, *args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One entry per video: ``video_id``, ``video_length`` and per-frame ``images`` infos."""
        with get_local_path(self.ann_file) as local_path:
            raw = mmengine.load(local_path, file_format='json')
        if 'images' in raw:
            return super().load_data_list()
        return self._load_official(raw)

    def _load_official(self, raw: dict) -> List[dict]:
        name_to_id = {c['name']: c['id'] for c in raw['categories']}
        missing = [name for name in self.metainfo['classes'] if name not in name_to_id]
        if missing:
            raise ValueError(f'{self.ann_file}: classes {missing} are not among its categories '
                             f'{sorted(name_to_id)}')
        self.cat_ids = [name_to_id[name] for name in self.metainfo['classes']]
        self.cat2label = {cat_id: label for label, cat_id in enumerate(self.cat_ids)}
        self.cat_img_map = defaultdict(list)
        self.img_ids_with_ann = set()
        objects = defaultdict(list)
        for ann in raw.get('annotations', []):
            objects[ann['video_id']].append(ann)

        data_list, img_id = [], 0
        for video in raw['videos']:
            images = []
            for frame_id, file_name in enumerate(video['file_names']):
                img_id += 1
                instances = []
                for ann in objects[video['id']]:
                    instance = self._frame_instance(ann, frame_id, video)
                    if instance is not None:
                        instances.append(instance)
                        self.cat_img_map[ann['category_id']].append(img_id)
                if instances:
                    self.img_ids_with_ann.add(img_id)
                images.append(dict(
                    img_id=img_id, file_name=file_name, height=video['height'], width=video['width'],
                    frame_id=frame_id, video_id=video['id'],
                    img_path=osp.join(self.data_prefix.get('img_path', ''), file_name),
                    instances=instances))
            data_list.append(dict(video_id=video['id'], images=images, video_length=len(images)))
        return data_list

    def _frame_instance(self, ann: dict, frame_id: int, video: dict) -> Optional[dict]:
        """The object's instance dict in one frame, or None (absent, degenerate or another class)."""
        bbox = ann['bboxes'][frame_id]
        if bbox is None or ann['category_id'] not in self.cat2label:
            return None
        x1, y1, w, h = bbox
        inter_w = max(0, min(x1 + w, video['width']) - max(x1, 0))
        inter_h = max(0, min(y1 + h, video['height']) - max(y1, 0))
        area = ann['areas'][frame_id]
        if inter_w * inter_h == 0 or not area or area <= 0 or w < 1 or h < 1:
            return None
        return dict(bbox=[x1, y1, x1 + w, y1 + h], bbox_label=self.cat2label[ann['category_id']],
                    ignore_flag=int(bool(ann.get('iscrowd', 0))), mask=ann['segmentations'][frame_id],
                    instance_id=ann['id'])
