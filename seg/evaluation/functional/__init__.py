"""Evaluation functions that need no third-party evaluation toolkits."""
from .panoptic_quality import (OFFSET, VOID, PQStat, PQStatCat, id2rgb, load_panoptic_png, match_annotations,
                               pq_compute_multi, pq_compute_single, rgb2id)

__all__ = [
    'OFFSET', 'VOID', 'PQStat', 'PQStatCat', 'id2rgb', 'load_panoptic_png', 'match_annotations', 'pq_compute_multi',
    'pq_compute_single', 'rgb2id'
]
