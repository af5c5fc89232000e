"""YouTube-VIS evaluation: mmdet's metric with atomic results files and mask AP that runs on current NumPy."""
import os.path as osp
import tempfile
import zipfile
from typing import Dict, List

import mmengine
from mmdet.evaluation import YouTubeVISMetric as MMDetYouTubeVISMetric
from mmdet.evaluation.functional import YTVIS, YTVISeval
from mmengine.logging import MMLogger
from pycocotools.cocoeval import COCOeval

from seg.fileio.atomic import atomic_path
from seg.registry import METRICS

# Name of the json inside the zip, as the YouTube-VIS evaluation server expects it.
SUBMISSION_NAME = 'results.json'
# Positions of the summary numbers in ``YTVISeval.stats`` (COCO's order).
STAT_INDEX = {'mAP': 0, 'mAP_50': 1, 'mAP_75': 2, 'mAP_s': 3, 'mAP_m': 4, 'mAP_l': 5, 'AR@1': 6, 'AR@10': 7,
              'AR@100': 8, 'AR_s@100': 9, 'AR_m@100': 10, 'AR_l@100': 11}
DEFAULT_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


@METRICS.register_module()
class YouTubeVISMetric(MMDetYouTubeVISMetric):
    """mmdet's ``YouTubeVISMetric`` writing ``<prefix>.json`` and ``<prefix>.submission_file.zip`` atomically.

    Per frame it reads ``pred_track_instances`` (``masks`` (K, H, W) bool,
    ``scores``, ``labels``, ``instances_id``, ``bboxes``) — what
    :class:`RapSAMVideo` gives — and groups them by ``instances_id`` into one
    prediction per track: ``video_id``, ``score`` (mean over frames),
    ``category_id`` (majority label + 1), ``segmentations`` (one compressed
    RLE or None per frame). Tracks are told apart by ``instances_id`` alone:
    predictions sharing an id in a frame overwrite each other, so each
    (query, class) pair needs its own id. With ``format_only`` the predictions
    are saved (the official valid / test splits have no public annotations);
    otherwise mask AP is computed against the ground truth in the samples'
    ``instances``.

    Two changes to mmdet 3.3.0's: it writes the files in place, so an
    interrupted run can leave a truncated json or zip that looks like a
    result — here each file goes to a temporary sibling first and is renamed
    over the target when complete (without ``outfile_prefix``, into a new
    temporary directory whose path is logged); and its ``YTVISeval.accumulate``
    uses ``np.float``, removed in NumPy 1.24 — here pycocotools' identical
    ``COCOeval.accumulate`` runs instead.

    Args:
        Same as mmdet's ``YouTubeVISMetric`` (``metric``, ``metric_items``,
        ``outfile_prefix``, ``collect_device``, ``prefix``, ``format_only``).
    """

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """Save the predictions (``format_only``) or compute ``segm_<item>`` mask AP / AR."""
        pred_parts, gt_parts = zip(*results)
        gt_results = self.format_gts(gt_parts)
        pred_results = self.format_preds(pred_parts)
        if self.format_only:
            self.save_pred_results(pred_results)
            return dict()
        items = self.metric_items or DEFAULT_ITEMS
        unknown = [item for item in items if item not in STAT_INDEX]
        if unknown:
            raise KeyError(f'metric items {unknown} are not supported; choose from {list(STAT_INDEX)}')
        if not pred_results:
            MMLogger.get_current_instance().warning('no track predictions: every YouTube-VIS metric is 0')
            return {f'segm_{item}': 0.0 for item in items}
        ytvis = YTVIS(gt_results)
        evaluator = _YTVISEval(ytvis, ytvis.loadRes(pred_results), 'segm')
        evaluator.params.vidIds = ytvis.getVidIds()
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        return {f'segm_{item}': float(f'{evaluator.stats[STAT_INDEX[item]]:.3f}') for item in items}

    def save_pred_results(self, pred_results: List[dict]) -> None:
        """Write the predictions json and its submission zip (``results.json`` inside)."""
        logger = MMLogger.get_current_instance()
        prefix = self.outfile_prefix or osp.join(tempfile.mkdtemp(prefix='youtube_vis_'), 'results')
        json_path, zip_path = f'{prefix}.json', f'{prefix}.submission_file.zip'
        with atomic_path(json_path, sync=True) as tmp:
            mmengine.dump(pred_results, str(tmp), file_format='json')
        with atomic_path(zip_path, sync=True) as tmp:
            with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as archive:
                archive.write(json_path, SUBMISSION_NAME)
        logger.info(f'{len(pred_results)} track predictions written to {json_path}; submit {zip_path} to the '
                    'YouTube-VIS evaluation server')


class _YTVISEval(YTVISeval):
    """mmdet's ``YTVISeval`` accumulating with pycocotools (the same code, over videos instead of images)."""

    def accumulate(self, p=None) -> None:
        for params in (p or self.params, self._paramsEval):
            params.imgIds = params.vidIds
        COCOeval.accumulate(self, p)

