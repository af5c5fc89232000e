"""mmdet's ``CocoPanopticMetric`` on :mod:`seg.evaluation.functional` instead of panopticapi.

Registered as ``CocoPanopticMetric`` in :data:`seg.registry.METRICS`, so
configs under ``default_scope='seg'`` get this class.  Arguments, inputs and
outputs are mmdet 3.3.0's; the differences are deliberate:

* Without ``outfile_prefix`` predictions are scored from memory; no PNG is
  written to a temporary folder and read back.
* A prediction segment of label 0 with instance 0 (a stuff class at label 0)
  has panoptic id 0, which reads as VOID in the PNG; it is written under the
  id ``len(classes)`` instead, which no segment uses.
* The prediction tensors are left as they are (mmdet writes VOID into them).
* With ``outfile_prefix`` every image of the ground-truth JSON is scored,
  also those without segments (mmdet skips them, panopticapi does not).
* Averages over an empty group (e.g. no stuff classes) are 0, not an error,
  and class-wise results are named after the categories they belong to.
"""
import datetime
import os.path as osp
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmdet.datasets.api_wrappers import COCOPanoptic
from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.evaluation.metrics.coco_panoptic_metric import CocoPanopticMetric as MMDetCocoPanopticMetric
from mmdet.evaluation.metrics.coco_panoptic_metric import parse_pq_results, print_panoptic_table
from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump, get_local_path, load
from mmengine.logging import MMLogger

from ...registry import METRICS
from ..functional import (VOID, PQStat, id2rgb, load_panoptic_png, match_annotations, pq_compute_multi,
                          pq_compute_single)


@METRICS.register_module()
class CocoPanopticMetric(MMDetCocoPanopticMetric):
    """COCO panoptic quality (PQ, SQ, RQ), overall and for things and stuff.

    Args:
        ann_file: COCO panoptic JSON of the ground truth. Without it the
            ground truth comes from the data samples (``segments_info`` and
            ``seg_map_path``, or PNGs under ``seg_prefix``).
        seg_prefix: Folder of the ground-truth panoptic PNGs.
        classwise: Also log PQ, SQ and RQ per class.
        format_only: Only write the predictions (needs ``outfile_prefix``).
        outfile_prefix: Write ``<prefix>.panoptic.json`` and PNGs under
            ``<prefix>.panoptic/`` and score them at the end. Without it,
            each batch is scored in :meth:`process`.
        nproc: Processes for scoring written results (capped by the CPUs).
        file_client_args: Removed in mmdet 3; passing it is an error.
        backend_args: File backend arguments for reading the ground truth.
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering across ranks.
        prefix: Prefix of the metric names; default ``'coco_panoptic'``.
    """
    default_prefix: Optional[str] = 'coco_panoptic'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 seg_prefix: Optional[str] = None,
                 classwise: bool = False,
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 nproc: int = 32,
                 file_client_args: Optional[dict] = None,
                 backend_args: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        # mmdet's __init__ only adds a panopticapi import check to this.
        BaseMetric.__init__(self, collect_device=collect_device, prefix=prefix)
        self.tmp_dir = None  # read by __del__, also when an argument error follows
        if file_client_args is not None:
            raise RuntimeError('The `file_client_args` is deprecated, please use `backend_args` instead.')
        if format_only and outfile_prefix is None:
            raise ValueError('outfile_prefix must be set when format_only is True, otherwise the results '
                             'would go to a temporary folder that is deleted at the end.')
        self.classwise = classwise
        self.format_only = format_only
        if outfile_prefix is None:
            self.tmp_dir = tempfile.TemporaryDirectory()
            outfile_prefix = osp.join(self.tmp_dir.name, 'results')
        self.outfile_prefix = outfile_prefix
        self.seg_out_dir = f'{self.outfile_prefix}.panoptic'
        self.nproc = nproc
        self.seg_prefix = seg_prefix
        self.cat_ids = None
        self.cat2label = None
        self.backend_args = backend_args
        if ann_file:
            with get_local_path(ann_file, backend_args=self.backend_args) as local_path:
                self._coco_api = COCOPanoptic(local_path)
            self.categories = self._coco_api.cats
        else:
            self._coco_api = None
            self.categories = None

    def _label_categories(self) -> Dict[int, dict]:
        """Categories keyed by contiguous label, from ``dataset_meta``."""
        thing_classes = self.dataset_meta['thing_classes']
        return {
            label: {'id': label, 'name': name, 'isthing': int(name in thing_classes)}
            for label, name in enumerate(self.dataset_meta['classes'])
        }

    def _gt_segments_from_sample(self, segments_info: Sequence[dict], categories: Dict[int, dict],
                                 pan_png: np.ndarray) -> List[dict]:
        """COCO ``segments_info`` of a dataset sample's ground truth.

        Args:
            segments_info: mmdet's per-segment dicts (``'id'``, contiguous
                ``'category'``, ``'is_thing'``; a crowd thing has
                ``is_thing=False``).
            categories: Label -> info with ``'isthing'``.
            pan_png: The ground-truth id map, (H, W).

        Returns:
            Dicts with ``'id'``, ``'category_id'`` (the label), ``'isthing'``,
            ``'iscrowd'`` and ``'area'`` in pixels.
        """
        segments = []
        for segment_info in segments_info:
            label = segment_info['category']
            isthing = categories[label]['isthing']
            segments.append({
                'id': segment_info['id'],
                'category_id': label,
                'isthing': isthing,
                'iscrowd': int(bool(isthing) and not segment_info['is_thing']),
                'area': int(np.count_nonzero(pan_png == segment_info['id']))
            })
        return segments

    def gt_to_coco_json(self, gt_dicts: Sequence[dict], outfile_prefix: str) -> Tuple[str, str]:
        """Write the data samples' ground truth as ``<outfile_prefix>.gt.json``.

        Args:
            gt_dicts: Per image ``'image_id'``, ``'width'``, ``'height'``,
                ``'seg_map_path'`` and ``'segments_info'`` (mmdet's format).
            outfile_prefix: Prefix of the JSON path.

        Returns:
            The JSON path and the folder of the first ground-truth PNG (all
            PNGs are expected there).
        """
        assert len(gt_dicts) > 0, 'gt_dicts is empty.'
        gt_folder = osp.dirname(gt_dicts[0]['seg_map_path'])
        categories = self._label_categories()
        image_infos, annotations = [], []
        for gt_dict in gt_dicts:
            file_name = osp.split(gt_dict['seg_map_path'])[-1]
            image_infos.append({
                'id': gt_dict['image_id'],
                'width': gt_dict['width'],
                'height': gt_dict['height'],
                'file_name': file_name
            })
            pan_png = load_panoptic_png(gt_dict['seg_map_path'], self.backend_args)
            annotations.append({
                'image_id': gt_dict['image_id'],
                'segments_info': self._gt_segments_from_sample(gt_dict['segments_info'], categories, pan_png),
                'file_name': file_name.replace('.jpg', '.png')
            })
        converted_json_path = f'{outfile_prefix}.gt.json'
        dump(
            dict(
                info=dict(
                    date_created=str(datetime.datetime.now()),
                    description='Coco json file converted by seg CocoPanopticMetric.'),
                images=image_infos,
                categories=list(categories.values()),
                licenses=None,
                annotations=annotations), converted_json_path)
        return converted_json_path, gt_folder

    def _pred_to_segments(self, pred: dict, label2cat: Optional[Dict[int, int]]) -> Tuple[List[dict], np.ndarray]:
        """Segments and id map of one panoptic prediction.

        Args:
            pred: Data sample dict whose ``pred_panoptic_seg['sem_seg']`` is a
                (1, H, W) integer tensor of ``label + instance * INSTANCE_OFFSET``;
                label ``len(classes)`` and ``ignore_index`` mean VOID.
            label2cat: Contiguous label -> category id; None keeps labels.

        Returns:
            ``segments_info`` (``'id'``, ``'category_id'``, ``'area'`` in
            pixels) and the (H, W) int64 id map with VOID = 0.
        """
        num_classes = len(self.dataset_meta['classes'])
        pan = pred['pred_panoptic_seg']['sem_seg'].cpu().numpy()[0].astype(np.int64)
        ignore_index = pred['pred_panoptic_seg'].get('ignore_index', num_classes)
        labels = pan % INSTANCE_OFFSET
        void = (labels == num_classes) | (labels == ignore_index)
        ids = pan.copy()
        # Id ``num_classes`` carries the VOID label, so no real segment has it.
        ids[(pan == VOID) & ~void] = num_classes
        ids[void] = VOID
        segment_ids, areas = np.unique(ids, return_counts=True)
        segments_info = []
        for segment_id, area in zip(segment_ids.tolist(), areas.tolist()):
            if segment_id == VOID:
                continue
            label = 0 if segment_id == num_classes else segment_id % INSTANCE_OFFSET
            segments_info.append({
                'id': segment_id,
                'category_id': label2cat[label] if label2cat else label,
                'area': area
            })
        return segments_info, ids

    def _parse_predictions(self,
                           pred: dict,
                           img_id: int,
                           segm_file: str,
                           label2cat: Optional[Dict[int, int]] = None) -> dict:
        """Write one prediction's PNG under ``seg_out_dir``; return its annotation.

        Returns:
            ``{'image_id', 'segments_info', 'file_name'}`` in COCO panoptic
            format (see :meth:`_pred_to_segments`).
        """
        segments_info, ids = self._pred_to_segments(pred, label2cat)
        mmcv.imwrite(id2rgb(ids)[:, :, ::-1], osp.join(self.seg_out_dir, segm_file))
        return {'image_id': img_id, 'segments_info': segments_info, 'file_name': segm_file}

    def _compute_batch_pq_stats(self, data_samples: Sequence[dict]) -> None:
        """Score each sample against its ground-truth PNG under ``seg_prefix``.

        Appends one :class:`PQStat` per sample to ``self.results``.
        """
        if self._coco_api is None:
            categories = self._label_categories()
            label2cat = None
        else:
            categories = self.categories
            cat_ids = self._coco_api.get_cat_ids(cat_names=self.dataset_meta['classes'])
            label2cat = dict(enumerate(cat_ids))
        for data_sample in data_samples:
            img_id = data_sample['img_id']
            segm_file = osp.basename(data_sample['img_path']).replace('.jpg', '.png')
            pred_segments, pred_ids = self._pred_to_segments(data_sample, label2cat)
            gt_ids = load_panoptic_png(osp.join(self.seg_prefix, segm_file), self.backend_args)
            if self._coco_api is None:
                gt_segments = self._gt_segments_from_sample(data_sample['segments_info'], categories, gt_ids)
            else:
                gt_segments = self._coco_api.imgToAnns[img_id]
            self.results.append(
                pq_compute_single(gt_ids, pred_ids, gt_segments, pred_segments, categories, image_id=img_id))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """PQ, SQ and RQ in percent over all classes, things and stuff.

        Args:
            results: :class:`PQStat` per image without ``outfile_prefix``,
                ``(gt, pred)`` annotation pairs with it.

        Returns:
            ``'PQ'``, ``'SQ'``, ``'RQ'`` and the same with suffixes ``'_th'``
            (things) and ``'_st'`` (stuff), in percent; empty with
            ``format_only``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        if self.tmp_dir is None:
            gts, preds = zip(*results)
            if self._coco_api is None:
                logger.info('Converting ground truth to coco format...')
                coco_json_path, gt_folder = self.gt_to_coco_json(gt_dicts=gts, outfile_prefix=self.outfile_prefix)
                self._coco_api = COCOPanoptic(coco_json_path)
            else:
                gt_folder = self.seg_prefix
            self.cat_ids = self._coco_api.get_cat_ids(cat_names=self.dataset_meta['classes'])
            self.cat2label = {cat_id: label for label, cat_id in enumerate(self.cat_ids)}
            self.categories = self._coco_api.cats
            json_filename, pred_folder = self.result2json(results=preds, outfile_prefix=self.outfile_prefix)
            if self.format_only:
                logger.info(f'results are saved in {osp.dirname(self.outfile_prefix)}')
                return dict()
            gt_annotations = [{
                'image_id': ann['image_id'],
                'segments_info': ann['segments_info'],
                'file_name': ann['file_name']
            } for ann in self._coco_api.dataset.get('annotations', [])]
            matched = match_annotations(gt_annotations, load(json_filename)['annotations'])
            pq_stat = pq_compute_multi(
                matched, gt_folder, pred_folder, self.categories, nproc=self.nproc, backend_args=self.backend_args)
        else:
            if self._coco_api is None:
                self.categories = self._label_categories()
            pq_stat = PQStat()
            for result in results:
                pq_stat += result

        pq_results = {}
        for name, isthing in [('All', None), ('Things', True), ('Stuff', False)]:
            pq_results[name], per_class = pq_stat.pq_average(self.categories, isthing=isthing)
            if name == 'All':
                pq_results['classwise'] = per_class
        classwise_results = None
        if self.classwise:
            classwise_results = {
                self.categories[cat_id]['name']: values
                for cat_id, values in pq_results['classwise'].items()
            }
        print_panoptic_table(pq_results, classwise_results, logger=logger)
        return parse_pq_results(pq_results)
