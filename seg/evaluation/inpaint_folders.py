"""Score completed videos saved as frame folders against ground-truth frame folders.

Both roots hold one subfolder per video with its frames (``*.png``, ``*.jpg``, ...:
:class:`~seg.fileio.frames.FolderFrames`, in playing order). Every ground-truth video must have a completed
one whose frames correspond one to one (:func:`check_frame_names`: by number when both folders name
every frame by a number, so ``7.png`` is ``00007.png``; else by name without the suffix) and have the
same size; anything else is refused (:class:`InpaintFoldersError`) rather than scored misaligned.
The scores are those of :mod:`seg.evaluation.functional.inpainting_metrics` (E2FGVI's evaluation):
per-video and overall PSNR/SSIM (a frame's PSNR counting at most ``PSNR_CAP_DB``), VFID with local
I3D weights, E_warp on request.
``tools/analysis/inpaint_eval.py`` is the command line over
:func:`evaluate_inpainting_folders`.
"""
import os
import os.path as osp
from pathlib import Path, PurePosixPath
from typing import Dict, Optional, Sequence

import numpy as np
from tqdm import tqdm

from seg.evaluation.functional.inpainting_metrics import (SSIM_WIN_SIZE, FlowFn, build_vfid_network, dis_flow,
                                                          i3d_features, psnr, ssim, summarise_scores,
                                                          vfid_from_features, warping_error)
from seg.fileio.errors import InputError
from seg.fileio.frames import FolderFrames, numeric_stem

__all__ = ['InpaintFoldersError', 'check_frame_names', 'read_frame_folder', 'evaluate_inpainting_folders']


class InpaintFoldersError(InputError):
    """The ground-truth and completed folders do not correspond (frame names, counts or sizes, too few videos)."""


def check_frame_names(video: str, gt_names: Sequence[str], pred_names: Sequence[str]) -> None:
    """Refuse two frame lists (each in playing order) that do not correspond one to one.

    Frames correspond by number when every stem of both lists is one (``7.png`` and
    ``00007.jpg``), else by stem (``frame_a.jpg`` and ``frame_a.png``).

    Args:
        video: the video's name, for messages.
        gt_names: ground-truth frame file names.
        pred_names: completed frame file names.

    Raises:
        InpaintFoldersError: other counts, a frame without its counterpart, or two frames with one number.
    """
    if len(gt_names) != len(pred_names):
        raise InpaintFoldersError(f'video {video!r}: {len(gt_names)} ground-truth frames but {len(pred_names)} '
                                  'completed frames; write exactly one completed frame per ground-truth frame')
    numbered = all(numeric_stem(name) is not None for name in list(gt_names) + list(pred_names))
    key = numeric_stem if numbered else (lambda name: PurePosixPath(name).stem)
    for label, names in (('ground-truth', gt_names), ('completed', pred_names)):
        keys = [key(name) for name in names]
        if len(set(keys)) != len(keys):
            twice = next(name for name in names if keys.count(key(name)) > 1)
            raise InpaintFoldersError(f'video {video!r}: two {label} frames are frame {key(twice)} ({twice} and '
                                      'another); keep one file per frame')
    for gt_name, pred_name in zip(gt_names, pred_names):
        if key(gt_name) != key(pred_name):
            rule = 'by number' if numbered else 'by name without the suffix'
            raise InpaintFoldersError(f'video {video!r}: frame names do not correspond ({rule}): ground truth '
                                      f'{gt_name} is paired with completed {pred_name}; name the completed frames '
                                      'as the ground truth\'s (numbers match by value: 7.png is 00007.png)')


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
        ``{'videos': {video: {'num_frames', 'PSNR', 'SSIM'[, 'E_warp'][, 'psnr_capped_frames']}},
        'overall': {'num_videos', 'num_frames', 'PSNR', 'SSIM'[, 'E_warp'][, 'psnr_capped_frames'][, 'VFID']}}``
        (PSNR in dB, each frame counting at most ``PSNR_CAP_DB``; overall PSNR/SSIM averaged over all frames).

    Raises:
        FileNotFoundError: a root or a completed video is missing.
        InpaintFoldersError: frames that do not correspond (:func:`check_frame_names`), differ
            in size or are smaller than SSIM's window, or VFID asked for with one video;
            FrameSourceError: an unreadable frame folder.
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
    if i3d_weights is not None and len(videos) < 2 and osp.isfile(i3d_weights):
        raise InpaintFoldersError('VFID needs at least two videos; drop the I3D weights to score one video')
    for video in videos:  # every pairing is checked before the (slow) scoring
        gt_frames, pred_frames = (FolderFrames(Path(root, video)) for root in (gt_dir, pred_dir))
        check_frame_names(video, gt_frames.names, pred_frames.names)
        if gt_frames.size != pred_frames.size:
            raise InpaintFoldersError(f'video {video!r}: ground-truth frames are {gt_frames.size[0]}x'
                                      f'{gt_frames.size[1]} but completed frames {pred_frames.size[0]}x'
                                      f'{pred_frames.size[1]}; save the results at the ground-truth size')
        if min(gt_frames.size) < SSIM_WIN_SIZE:
            raise InpaintFoldersError(f'video {video!r}: frames are {gt_frames.size[0]}x{gt_frames.size[1]}, but '
                                      f'SSIM\'s {SSIM_WIN_SIZE}x{SSIM_WIN_SIZE} window (the official one) needs at '
                                      f'least {SSIM_WIN_SIZE} px on each side')
    i3d = build_vfid_network(i3d_weights)
    scores, real_features, fake_features = {}, [], []
    for video in tqdm(videos, desc='videos', disable=not show_progress):
        gt = read_frame_folder(osp.join(gt_dir, video))
        pred = read_frame_folder(osp.join(pred_dir, video))
        scores[video] = dict(psnr=[psnr(g, p) for g, p in zip(gt, pred)], ssim=[ssim(g, p) for g, p in zip(gt, pred)],
                             ewarp=warping_error(pred, gt, flow_fn) if ewarp and len(gt) >= 2 else None)
        if i3d is not None:
            real_features.append(i3d_features(gt, i3d))
            fake_features.append(i3d_features(pred, i3d))
    summary = summarise_scores(scores)
    if i3d_weights is not None and i3d is None:
        summary['overall']['VFID'] = None
    elif i3d is not None:
        summary['overall']['VFID'] = vfid_from_features(np.stack(real_features), np.stack(fake_features))
    return summary
