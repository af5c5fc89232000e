"""Evaluation: panoptic quality without panopticapi, and the metrics using it."""
from .functional import (OFFSET, VOID, PQStat, PQStatCat, id2rgb, load_panoptic_png, match_annotations,
                         pq_compute_multi, pq_compute_single, rgb2id)
from .metrics import CocoPanopticMetric, InteractivePromptMetric

__all__ = [
    'OFFSET', 'VOID', 'PQStat', 'PQStatCat', 'id2rgb', 'load_panoptic_png', 'match_annotations', 'pq_compute_multi',
    'pq_compute_single', 'rgb2id', 'CocoPanopticMetric', 'InteractivePromptMetric'
]
