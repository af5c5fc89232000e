"""Panoptic quality (PQ, SQ, RQ) without ``panopticapi``.

The definitions are those of ``pq_compute`` in
https://github.com/cocodataset/panopticapi (``evaluation.py``), which mmdet's
``CocoPanopticMetric`` calls:

* Segment ids are read from RGB PNGs as ``R + 256 * G + 256**2 * B``
  (:func:`rgb2id`); id ``VOID = 0`` marks unlabelled pixels.
* A ground-truth and a predicted segment of the same category match when their
  IoU is strictly above 0.5.  The union leaves out the predicted segment's
  pixels that fall on ground-truth VOID:
  ``union = |pred| + |gt| - |pred & gt| - |pred & VOID|``.
  Crowd ground-truth segments (``iscrowd == 1``) never match.
* Each match is a true positive (TP) and adds its IoU to the category's sum.
  Unmatched non-crowd ground-truth segments are false negatives (FN).
  An unmatched predicted segment is a false positive (FP) unless more than
  half of its area lies on VOID plus the crowd region of its own category.
* Per category ``PQ = sum(IoU) / (TP + FP/2 + FN/2)``,
  ``SQ = sum(IoU) / TP`` and ``RQ = TP / (TP + FP/2 + FN/2)``; averages are
  over the categories with ``TP + FP + FN > 0``.

Matches panopticapi in its corner cases as well: the ground-truth area comes
from the annotation's ``'area'`` when it has one (the predicted area always
from the PNG); non-zero ground-truth ids absent from ``segments_info`` count
as ordinary background, not as VOID; and with several crowd segments of one
category in an image only the last listed one is used for the FP test.
"""
import multiprocessing
import os.path as osp
from collections import defaultdict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from seg.fileio.panoptic_png import id2rgb, load_panoptic_png, rgb2id  # noqa: F401  (re-exported)

#: Segment id of unlabelled pixels.
VOID = 0
#: Multiplier pairing a ground-truth id with a predicted id in one integer.
OFFSET = 256 * 256 * 256

PanopticMap = Union[str, np.ndarray]
Categories = Union[Mapping[int, dict], Iterable[int]]


def _as_id_map(pan: PanopticMap, backend_args: Optional[dict]) -> np.ndarray:
    """An (H, W) id map from a path, an (H, W, 3) RGB array or an (H, W) id map in [0, 256**3)."""
    if isinstance(pan, str):
        return load_panoptic_png(pan, backend_args)
    pan = np.asarray(pan)
    if pan.ndim == 3 and pan.shape[-1] == 3:
        return rgb2id(pan)
    if pan.ndim != 2:
        raise ValueError(f'A panoptic map must be (H, W) ids or (H, W, 3) RGB, got shape {pan.shape}.')
    if pan.size and (pan.min() < 0 or pan.max() >= OFFSET):
        raise ValueError(f'Panoptic ids must lie in [0, {OFFSET}), got [{pan.min()}, {pan.max()}].')
    return pan


class PQStatCat:
    """Running panoptic-quality counts of one category.

    Attributes:
        iou: Sum of the IoUs of the true positives.
        tp: Number of true positives.
        fp: Number of false positives.
        fn: Number of false negatives.
    """

    def __init__(self) -> None:
        self.iou = 0.0
        self.tp = 0
        self.fp = 0
        self.fn = 0

    def __iadd__(self, other: 'PQStatCat') -> 'PQStatCat':
        self.iou += other.iou
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    def __repr__(self) -> str:
        return f'PQStatCat(iou={self.iou}, tp={self.tp}, fp={self.fp}, fn={self.fn})'


class PQStat:
    """Panoptic-quality counts per category id, summable over images with ``+=``."""

    def __init__(self) -> None:
        self.pq_per_cat: Dict[int, PQStatCat] = defaultdict(PQStatCat)

    def __getitem__(self, category_id: int) -> PQStatCat:
        return self.pq_per_cat[category_id]

    def __iadd__(self, other: 'PQStat') -> 'PQStat':
        for category_id, stat in other.pq_per_cat.items():
            self.pq_per_cat[category_id] += stat
        return self

    def pq_average(self, categories: Mapping[int, dict],
                   isthing: Optional[bool] = None) -> Tuple[Dict[str, float], Dict[int, Dict[str, float]]]:
        """Average PQ, SQ and RQ over categories, as panopticapi does.

        Args:
            categories: Category id -> info with key ``'isthing'`` (0 or 1).
                Only these categories are averaged; their order is kept in the
                per-class results.
            isthing: True for things only, False for stuff only, None for all.

        Returns:
            ``({'pq', 'sq', 'rq', 'n'}, {category_id: {'pq', 'sq', 'rq'}})``:
            fractions in [0, 1] averaged over the ``n`` selected categories
            with ``TP + FP + FN > 0``, and the per-class values (0 for a
            category that never occurs).  With ``n == 0`` the averages are 0
            (panopticapi divides by zero there).
        """
        pq = sq = rq = 0.0
        n = 0
        per_class_results: Dict[int, Dict[str, float]] = {}
        for category_id, info in categories.items():
            if isthing is not None and isthing != (info['isthing'] == 1):
                continue
            stat = self.pq_per_cat.get(category_id, PQStatCat())
            if stat.tp + stat.fp + stat.fn == 0:
                per_class_results[category_id] = {'pq': 0.0, 'sq': 0.0, 'rq': 0.0}
                continue
            n += 1
            denominator = stat.tp + 0.5 * stat.fp + 0.5 * stat.fn
            pq_class = stat.iou / denominator
            sq_class = stat.iou / stat.tp if stat.tp != 0 else 0.0
            rq_class = stat.tp / denominator
            per_class_results[category_id] = {'pq': pq_class, 'sq': sq_class, 'rq': rq_class}
            pq += pq_class
            sq += sq_class
            rq += rq_class
        if n == 0:
            return {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'n': 0}, per_class_results
        return {'pq': pq / n, 'sq': sq / n, 'rq': rq / n, 'n': n}, per_class_results


def pq_compute_single(gt_pan: PanopticMap,
                      pred_pan: PanopticMap,
                      gt_segments: Sequence[dict],
                      pred_segments: Sequence[dict],
                      categories: Categories,
                      image_id: Any = None,
                      backend_args: Optional[dict] = None) -> PQStat:
    """Panoptic-quality counts of one image.

    Args:
        gt_pan: Ground-truth segment ids: a PNG path (RGB-encoded, read with
            ``backend_args``), an RGB array (H, W, 3) or an id array (H, W).
        pred_pan: Predicted segment ids, same forms and size as ``gt_pan``.
        gt_segments: One dict per ground-truth segment with ``'id'``,
            ``'category_id'``, optional ``'iscrowd'`` (default 0) and optional
            ``'area'`` in pixels (default: counted in ``gt_pan``).
        pred_segments: One dict per predicted segment with ``'id'`` and
            ``'category_id'``; areas are counted in ``pred_pan``.
        categories: The known category ids (a mapping keyed by id or any
            collection of ids); a predicted segment of another id is an error.
        image_id: Named in error messages.
        backend_args: File backend arguments for paths.

    Returns:
        The counts, keyed by category id.

    Raises:
        KeyError: A non-VOID id of ``pred_pan`` is not in ``pred_segments``, a
            predicted segment is absent from ``pred_pan``, or has an unknown
            category id (panopticapi's checks and messages).
        ValueError: Duplicate segment ids, or the maps differ in size.
    """
    gt_ids = _as_id_map(gt_pan, backend_args)
    pred_ids = _as_id_map(pred_pan, backend_args)
    if gt_ids.shape != pred_ids.shape:
        raise ValueError(f'In the image with ID {image_id} the ground truth is {gt_ids.shape[:2]} '
                         f'but the prediction is {pred_ids.shape[:2]}.')
    gt_segms = _index_segments(gt_segments, 'ground-truth', image_id)
    pred_segms = _index_segments(pred_segments, 'predicted', image_id)
    category_ids = set(categories)

    # Predicted areas and sanity checks.
    pred_area: Dict[int, int] = {}
    labels, counts = np.unique(pred_ids, return_counts=True)
    for label, count in zip(labels.tolist(), counts.tolist()):
        if label not in pred_segms:
            if label == VOID:
                continue
            raise KeyError(f'In the image with ID {image_id} segment with ID {label} is presented in PNG '
                           'and not presented in JSON.')
        pred_area[label] = count
        if pred_segms[label]['category_id'] not in category_ids:
            raise KeyError(f'In the image with ID {image_id} segment with ID {label} has unknown '
                           f'category_id {pred_segms[label]["category_id"]}.')
    missing = sorted(set(pred_segms) - set(pred_area))
    if missing:
        raise KeyError(f'In the image with ID {image_id} the following segment IDs {missing} are presented '
                       'in JSON and not presented in PNG.')

    # Intersections of every (gt id, pred id) pair, background and VOID included.
    pairs = gt_ids.astype(np.uint64) * np.uint64(OFFSET) + pred_ids.astype(np.uint64)
    labels, counts = np.unique(pairs, return_counts=True)
    intersections: Dict[Tuple[int, int], int] = {
        (label // OFFSET, label % OFFSET): count
        for label, count in zip(labels.tolist(), counts.tolist())
    }
    gt_labels, gt_counts = np.unique(gt_ids, return_counts=True)
    gt_png_area = dict(zip(gt_labels.tolist(), gt_counts.tolist()))
    gt_area = {gt_id: int(info['area']) if 'area' in info else gt_png_area.get(gt_id, 0)
               for gt_id, info in gt_segms.items()}

    pq_stat = PQStat()
    gt_matched, pred_matched = set(), set()
    for (gt_id, pred_id), intersection in intersections.items():
        if gt_id not in gt_segms or pred_id not in pred_segms:
            continue
        gt_info, pred_info = gt_segms[gt_id], pred_segms[pred_id]
        if gt_info.get('iscrowd', 0) == 1 or gt_info['category_id'] != pred_info['category_id']:
            continue
        union = pred_area[pred_id] + gt_area[gt_id] - intersection - intersections.get((VOID, pred_id), 0)
        iou = intersection / union
        if iou > 0.5:
            stat = pq_stat[gt_info['category_id']]
            stat.tp += 1
            stat.iou += iou
            gt_matched.add(gt_id)
            pred_matched.add(pred_id)

    # False negatives; crowd regions are remembered for the FP test.
    crowd_by_category: Dict[int, int] = {}
    for gt_id, gt_info in gt_segms.items():
        if gt_id in gt_matched:
            continue
        if gt_info.get('iscrowd', 0) == 1:
            crowd_by_category[gt_info['category_id']] = gt_id
            continue
        pq_stat[gt_info['category_id']].fn += 1

    # False positives: a prediction mostly on VOID or on its category's crowd is ignored.
    for pred_id, pred_info in pred_segms.items():
        if pred_id in pred_matched:
            continue
        ignored = intersections.get((VOID, pred_id), 0)
        crowd_id = crowd_by_category.get(pred_info['category_id'])
        if crowd_id is not None:
            ignored += intersections.get((crowd_id, pred_id), 0)
        if ignored / pred_area[pred_id] > 0.5:
            continue
        pq_stat[pred_info['category_id']].fp += 1
    return pq_stat


def _index_segments(segments: Sequence[dict], kind: str, image_id: Any) -> Dict[int, dict]:
    """Segments keyed by int id; duplicate ids are an error."""
    indexed: Dict[int, dict] = {}
    for segment in segments:
        segment_id = int(segment['id'])
        if segment_id in indexed:
            raise ValueError(f'In the image with ID {image_id} the {kind} segment ID {segment_id} is listed twice.')
        indexed[segment_id] = segment
    return indexed


def match_annotations(gt_annotations: Sequence[dict], pred_annotations: Sequence[dict]) -> List[Tuple[dict, dict]]:
    """Pair each ground-truth image annotation with the prediction of its image.

    Args:
        gt_annotations: COCO panoptic annotations (``'image_id'``,
            ``'file_name'``, ``'segments_info'``), one per image.
        pred_annotations: Predictions in the same format; extra images are
            ignored.

    Returns:
        ``(gt_annotation, pred_annotation)`` in ground-truth order.

    Raises:
        KeyError: An image has no prediction.
    """
    pred_by_image = {ann['image_id']: ann for ann in pred_annotations}
    matched = []
    for gt_ann in gt_annotations:
        if gt_ann['image_id'] not in pred_by_image:
            raise KeyError(f'no prediction for the image with id: {gt_ann["image_id"]}')
        matched.append((gt_ann, pred_by_image[gt_ann['image_id']]))
    return matched


def _pq_compute_chunk(matched_annotations: Sequence[Tuple[dict, dict]], gt_folder: str, pred_folder: str,
                      categories: Categories, backend_args: Optional[dict]) -> PQStat:
    """Summed counts of a list of matched annotations (one worker's share)."""
    pq_stat = PQStat()
    for gt_ann, pred_ann in matched_annotations:
        pq_stat += pq_compute_single(
            load_panoptic_png(osp.join(gt_folder, gt_ann['file_name']), backend_args),
            load_panoptic_png(osp.join(pred_folder, pred_ann['file_name'])),
            gt_ann['segments_info'],
            pred_ann['segments_info'],
            categories,
            image_id=gt_ann.get('image_id'))
    return pq_stat


def pq_compute_multi(matched_annotations: Sequence[Tuple[dict, dict]],
                     gt_folder: str,
                     pred_folder: str,
                     categories: Categories,
                     nproc: int = 1,
                     backend_args: Optional[dict] = None) -> PQStat:
    """Panoptic-quality counts summed over images, optionally in processes.

    Args:
        matched_annotations: ``(gt_annotation, pred_annotation)`` per image
            (see :func:`match_annotations`); each has ``'file_name'`` (PNG
            under its folder), ``'segments_info'`` and ``'image_id'``.
        gt_folder: Folder of the ground-truth PNGs (read with
            ``backend_args``).
        pred_folder: Local folder of the predicted PNGs.
        categories: Known category ids, as in :func:`pq_compute_single`.
        nproc: Worker processes; capped by the CPU and image counts. 1 or
            less computes in this process.
        backend_args: File backend arguments for the ground truth.

    Returns:
        The summed counts.
    """
    category_ids = set(categories)
    nproc = min(nproc, multiprocessing.cpu_count(), len(matched_annotations))
    if nproc <= 1:
        return _pq_compute_chunk(matched_annotations, gt_folder, pred_folder, category_ids, backend_args)
    chunks = np.array_split(np.arange(len(matched_annotations)), nproc)
    pq_stat = PQStat()
    with multiprocessing.Pool(processes=nproc) as pool:
        jobs = [
            pool.apply_async(_pq_compute_chunk, ([matched_annotations[i] for i in chunk.tolist()], gt_folder,
                                                 pred_folder, category_ids, backend_args)) for chunk in chunks
        ]
        for job in jobs:
            pq_stat += job.get()
    return pq_stat
