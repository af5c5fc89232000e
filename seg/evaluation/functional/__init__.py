"""Evaluation functions that need no third-party evaluation toolkits."""
from .i3d import InceptionI3d, load_i3d
from .inpainting_metrics import (build_vfid_network, dis_flow, format_score_table, frechet_distance, i3d_features,
                                 psnr, ssim, summarise_scores, vfid, vfid_from_features, warping_error)
from .panoptic_quality import (OFFSET, VOID, PQStat, PQStatCat, id2rgb, load_panoptic_png, match_annotations,
                               pq_compute_multi, pq_compute_single, rgb2id)

__all__ = [
    'InceptionI3d', 'load_i3d', 'build_vfid_network', 'dis_flow', 'format_score_table', 'frechet_distance',
    'i3d_features', 'psnr', 'ssim', 'summarise_scores', 'vfid', 'vfid_from_features', 'warping_error',
    'OFFSET', 'VOID', 'PQStat', 'PQStatCat', 'id2rgb', 'load_panoptic_png', 'match_annotations', 'pq_compute_multi',
    'pq_compute_single', 'rgb2id'
]
