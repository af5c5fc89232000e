"""Score completed videos saved as frame folders against ground-truth frame folders.

Both roots hold one subfolder per video with its frames (``*.png``, ``*.jpg``, ...:
:class:`~seg.fileio.frames.FolderFrames`), matched by sorted name order; every ground-truth video must have a completed
one with as many frames of the same size. The scores are those of
:mod:`seg.evaluation.functional.inpainting_metrics` (E2FGVI's evaluation):
per-video and overall PSNR/SSIM, VFID with local I3D weights, E_warp on request.
``tools/analysis/inpaint_eval.py`` is the command line over
:func:`evaluate_inpainting_folders`.
"""
import os
import os.path as osp
from pathlib import Path
from typing import Dict, Optional

import numpy as np
from tqdm import tqdm

from seg.evaluation.functional.inpainting_metrics import (FlowFn, build_vfid_network, dis_flow, i3d_features, psnr,
                                                          ssim, summarise_scores, vfid_from_features, warping_error)
from seg.fileio.frames import FolderFrames

__all__ = ['read_frame_folder', 'evaluate_inpainting_folders']


def read_frame_folder(folder: str) -> np.ndarray:
    """All frames of a video folder, sorted by file name (:class:`~seg.fileio.frames.FolderFrames`).

    Args:
        folder: Folder of frame images (``*.png``, ``*.jpg``, ...) of one size.

    Returns:
        (T, H, W, 3) uint8 RGB.

    Raises:
        FrameSourceError: no frames, an unreadable frame, or frames of different sizes
            (a ``ValueError``); FileNotFoundError: no such folder.
    """
    return np.stack(list(FolderFrames(Path(folder))))


def evaluate_inpainting_folders(gt_dir: str,
                                pred_dir: str,
                                i3d_weights: Optional[str] = None,
                                ewarp: bool = False,
                                flow_fn: FlowFn = dis_flow,
                                show_progress: bool = False) -> Dict[str, Dict]:
    """Per-video and overall scores of the completed videos in ``pred_dir``.

    Args:
        gt_dir: Root of the ground truth, ``<gt_dir>/<video>/<frame>.png``.
        pred_dir: Root of the completed videos, the same video names.
        i3d_weights: Local ``i3d_rgb_imagenet.pt`` for VFID (needs at least two
            videos); None skips it; a missing file skips it with a logged message
            and ``overall['VFID'] = None``.
        ewarp: Also compute E_warp per video (flow of the ground truth by ``flow_fn``).
        flow_fn: Flow estimator for E_warp.
        show_progress: Show a progress bar over the videos.

    Returns:
        ``{'videos': {video: {'num_frames', 'PSNR', 'SSIM'[, 'E_warp']}},
        'overall': {'num_videos', 'num_frames', 'PSNR', 'SSIM'[, 'E_warp'][, 'VFID']}}``
        (PSNR in dB; overall PSNR/SSIM averaged over all frames).
    """
    for label, root in (('ground-truth', gt_dir), ('prediction', pred_dir)):
        if not osp.isdir(root):
            raise FileNotFoundError(f'{label} folder {root} does not exist')
    videos = sorted(n for n in os.listdir(gt_dir) if osp.isdir(osp.join(gt_dir, n)))
    if not videos:
        raise FileNotFoundError(f'{gt_dir} has no video subfolders: expected <gt_dir>/<video>/<frame>.png')
    missing = [v for v in videos if not osp.isdir(osp.join(pred_dir, v))]
    if missing:
        raise FileNotFoundError(f'{len(missing)} ground-truth videos have no folder in {pred_dir}: {missing[:5]}; '
                                'write every video or evaluate a ground-truth folder holding only those present')
    i3d = build_vfid_network(i3d_weights)
    scores, real_features, fake_features = {}, [], []
    for video in tqdm(videos, desc='videos', disable=not show_progress):
        gt = read_frame_folder(osp.join(gt_dir, video))
        pred = read_frame_folder(osp.join(pred_dir, video))
        if len(gt) != len(pred):
            raise ValueError(f'video {video!r}: {len(gt)} ground-truth frames but {len(pred)} completed frames; '
                             'write exactly one completed frame per ground-truth frame')
        if gt.shape != pred.shape:
            raise ValueError(f'video {video!r}: ground-truth frames are {gt.shape[1]}x{gt.shape[2]} but completed '
                             f'frames {pred.shape[1]}x{pred.shape[2]}; save the results at the ground-truth size')
        scores[video] = dict(psnr=[psnr(g, p) for g, p in zip(gt, pred)], ssim=[ssim(g, p) for g, p in zip(gt, pred)],
                             ewarp=warping_error(pred, gt, flow_fn) if ewarp and len(gt) >= 2 else None)
        if i3d is not None:
            real_features.append(i3d_features(gt, i3d))
            fake_features.append(i3d_features(pred, i3d))
    summary = summarise_scores(scores)
    if i3d_weights is not None and i3d is None:
        summary['overall']['VFID'] = None
    elif i3d is not None:
        if len(videos) < 2:
            raise ValueError('VFID needs at least two videos; drop the I3D weights to score one video')
        summary['overall']['VFID'] = vfid_from_features(np.stack(real_features), np.stack(fake_features))
    return summary
