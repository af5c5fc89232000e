"""Video inpainting quality per video and overall: PSNR, SSIM, and optionally VFID and E_warp.

Registered as ``VideoInpaintingMetric`` in :data:`seg.registry.METRICS`. The
scores are those of E2FGVI's ``evaluate.py`` (see
:mod:`seg.evaluation.functional.inpainting_metrics`): PSNR and SSIM per frame
on the 0..255 scale, averaged over all frames; VFID over the videos' I3D
features; E_warp per video (flow of the ground truth), averaged over videos.
Names of the results (under the prefix ``inpaint/``): ``PSNR``, ``SSIM``, and
``VFID`` / ``E_warp`` when configured. A per-video table goes to the log.
"""
import logging
import math
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from seg.evaluation.functional.inpainting_metrics import (FlowFn, build_vfid_network, dis_flow, format_score_table,
                                                          i3d_features, psnr, ssim, summarise_scores,
                                                          vfid_from_features, warping_error)
from seg.fileio.atomic import atomic_path
from seg.registry import METRICS

__all__ = ['VideoInpaintingMetric', 'frames_to_0_255']


def frames_to_0_255(frames: Any) -> np.ndarray:
    """Frames as a (T, H, W, 3) float64 array on the 0..255 scale.

    Args:
        frames: A tensor (T, 3, H, W) or an ndarray (T, H, W, 3). ``uint8`` is
            taken as 0..255 (the dataset's frames); floats are in [0, 1].

    Returns:
        (T, H, W, 3) float64.
    """
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu()
        frames = (frames.permute(0, 2, 3, 1) if frames.ndim == 4 else frames).numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f'frames must be a (T, 3, H, W) tensor or a (T, H, W, 3) array, got shape {frames.shape}')
    if frames.dtype == np.uint8:
        return frames.astype(np.float64)
    return frames.astype(np.float64) * 255


def _get(sample: Any, key: str) -> Any:
    """``sample[key]`` of a dict or a data element, None when absent."""
    return sample.get(key, None)


@METRICS.register_module()
class VideoInpaintingMetric(BaseMetric):
    """PSNR/SSIM (and VFID, E_warp) of completed videos against the ground truth.

    Each data sample (a dict or a data element) holds one video or window:

    * ``video_name``: str; windows of one video are merged by name.
    * ``frame_ids``: its frame indices (optional; used to name written frames).
    * ``pred_frames``: the completed frames, a (T, 3, H, W) tensor in [0, 1]
      (the inpainters' ``inpaint_window`` output), or uint8.
    * ``gt_frames`` (optional): the ground truth in the same form; without it the
      ground truth is ``data_batch['inputs'][i]``, the dataset's (T, 3, H, W)
      uint8 frames (:class:`~seg.datasets.VideoInpaintingDataset`).

    Float frames are scored unrounded on the 0..255 scale (the official scores
    its float window averages that way too).

    Args:
        i3d_weights: Local path of ``i3d_rgb_imagenet.pt`` to report VFID; None
            (or a missing file, with a logged message) skips it. VFID needs at least
            two samples (features are per sample: per video, or per window).
        ewarp: Report E_warp (per sample, flow estimated on the ground truth with ``flow_fn``).
        flow_fn: ``flow_fn(img1, img2) -> (H, W, 2)`` flow for E_warp; None is OpenCV DIS.
        output_dir: Write the completed frames as ``<output_dir>/<video_name>/<frame_id:05d>.png``
            (rounded to uint8); None writes nothing.
        collect_device: ``'cpu'`` or ``'gpu'``, for gathering across ranks.
        prefix: Prefix of the result names; default ``'inpaint'``.
    """
    default_prefix: Optional[str] = 'inpaint'

    def __init__(self,
                 i3d_weights: Optional[str] = None,
                 ewarp: bool = False,
                 flow_fn: Optional[FlowFn] = None,
                 output_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.i3d = build_vfid_network(i3d_weights)
        self.ewarp = ewarp
        self.flow_fn = flow_fn or dis_flow
        self.output_dir = output_dir

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Score each sample's frames; store per-frame PSNR/SSIM, E_warp and I3D features per sample."""
        for index, sample in enumerate(data_samples):
            name = _get(sample, 'video_name')
            if name is None:
                raise KeyError('a data sample has no video_name: the metric groups frames by video')
            if _get(sample, 'pred_frames') is None:
                raise KeyError(f'video {name!r}: the data sample has no pred_frames (the completed frames)')
            pred = frames_to_0_255(_get(sample, 'pred_frames'))
            if _get(sample, 'gt_frames') is not None:
                gt = frames_to_0_255(_get(sample, 'gt_frames'))
            elif isinstance(data_batch, dict) and 'inputs' in data_batch:
                gt = frames_to_0_255(data_batch['inputs'][index])
            else:
                raise KeyError(f'video {name!r}: no ground truth: give the sample gt_frames or the batch inputs')
            if pred.shape != gt.shape:
                raise ValueError(f'video {name!r}: completed frames {pred.shape} and ground truth {gt.shape} differ '
                                 'in shape; predict at the ground-truth size')
            frame_ids = _get(sample, 'frame_ids')
            frame_ids = list(range(len(pred))) if frame_ids is None else [int(i) for i in frame_ids]
            result = dict(video_name=name, frame_ids=frame_ids,
                          psnr=[psnr(g, p) for g, p in zip(gt, pred)],
                          ssim=[ssim(g, p) for g, p in zip(gt, pred)],
                          ewarp=None, real_feature=None, fake_feature=None)
            if self.ewarp and len(pred) >= 2:
                result['ewarp'] = warping_error(pred, gt, self.flow_fn)
            if self.i3d is not None:
                result['real_feature'] = i3d_features(gt, self.i3d)
                result['fake_feature'] = i3d_features(pred, self.i3d)
            if self.output_dir is not None:
                self._write_frames(name, frame_ids, pred)
            self.results.append(result)

    def _write_frames(self, name: str, frame_ids: List[int], frames: np.ndarray) -> None:
        """Write (T, H, W, 3) RGB frames (0..255 scale) as ``<output_dir>/<name>/<id:05d>.png``, each atomically."""
        folder = osp.join(self.output_dir, name)
        for frame_id, frame in zip(frame_ids, frames):
            bgr = cv2.cvtColor(np.clip(np.round(frame), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
            ok, encoded = cv2.imencode('.png', bgr)
            if not ok:
                raise RuntimeError(f'video {name!r}: could not encode frame {frame_id} as PNG')
            with atomic_path(osp.join(folder, f'{frame_id:05d}.png')) as tmp:
                tmp.write_bytes(encoded.tobytes())

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Merge windows per video, log the per-video table, return the overall scores."""
        per_video: Dict[str, dict] = OrderedDict()
        for result in results:
            entry = per_video.setdefault(result['video_name'], dict(frames=[], ewarp_sum=0.0, ewarp_pairs=0))
            entry['frames'] += list(zip(result['frame_ids'], result['psnr'], result['ssim']))
            if result['ewarp'] is not None:
                pairs = len(result['frame_ids']) - 1
                entry['ewarp_sum'] += result['ewarp'] * pairs
                entry['ewarp_pairs'] += pairs
        scores = OrderedDict()
        for name, entry in per_video.items():
            frames = sorted(entry['frames'], key=lambda f: f[0])
            scores[name] = dict(psnr=[f[1] for f in frames], ssim=[f[2] for f in frames],
                                ewarp=entry['ewarp_sum'] / entry['ewarp_pairs'] if entry['ewarp_pairs'] else None)
        summary = summarise_scores(scores)
        metrics = dict(PSNR=summary['overall']['PSNR'], SSIM=summary['overall']['SSIM'])
        if self.ewarp:
            metrics['E_warp'] = summary['overall'].get('E_warp', math.nan)
        if self.i3d is not None:
            metrics['VFID'] = self._vfid(results)
            summary['overall']['VFID'] = metrics['VFID']
        print_log(f'{type(self).__name__} per video:\n{format_score_table(summary)}', logger='current')
        return metrics

    @staticmethod
    def _vfid(results: List[dict]) -> float:
        if len(results) < 2:
            print_log('VFID needs at least two videos (or windows); reporting NaN', logger='current',
                      level=logging.WARNING)
            return math.nan
        return vfid_from_features(np.stack([r['real_feature'] for r in results]),
                                  np.stack([r['fake_feature'] for r in results]))
