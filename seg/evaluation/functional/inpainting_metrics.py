"""Video inpainting quality: PSNR, SSIM and VFID as E2FGVI's evaluation computes them, and the warping error.

Frames are (H, W, 3) RGB arrays on the 0..255 scale; videos are (T, H, W, 3).
``uint8`` is what the official evaluation scores its ground truth in; its
completed frames are ``uint8`` too, except where two overlapping windows were
averaged (float values ending in .5), which it scores unrounded. So every
function here takes any numeric frames on that scale.

* :func:`psnr`: ``core/metrics.py`` ``calculate_psnr``: float64 MSE over all
  pixels and channels, ``20 log10(255 / sqrt(MSE))``, ``inf`` for identical frames.
* :func:`ssim`: ``calc_psnr_and_ssim`` calls scikit-image 0.16's
  ``compare_ssim(img1, img2, data_range=255, multichannel=True, win_size=65)``
  on float64 frames, i.e. the defaults ``gaussian_weights=False`` (a uniform
  65x65 window, ``scipy.ndimage.uniform_filter`` with its default 'reflect'
  border), ``use_sample_covariance=True`` (variances times N / (N - 1),
  N = 65²), K1 = 0.01, K2 = 0.03; the SSIM map is averaged without the 32-pixel
  border, per channel, and the channels are averaged. :func:`ssim` computes that
  itself (no scikit-image needed).
* :func:`vfid`: ``calculate_i3d_activations`` + ``calculate_vfid``: each video,
  as ``uint8`` and divided by 255, goes through I3D in one clip (B=1, all T
  frames), giving one 1024-d feature per video; the Fréchet distance between
  the Gaussians (mean, ``np.cov`` sample covariance) of the real and the
  completed videos' features, with ``scipy.linalg.sqrtm``.
* :func:`warping_error`: E_warp of Lai et al., "Learning Blind Video Temporal
  Consistency" (ECCV 2018), as video inpainting papers report it (E2FGVI
  evaluates the saved results with it).
* Overall scores (:func:`summarise_scores`): PSNR and SSIM average over all
  frames of all videos (the official ``avg_frame_psnr``); E_warp averages over
  videos (Lai et al.). One deliberate difference: the official script sums the
  per-frame PSNRs as they are, so a single frame identical to its ground truth
  (``inf``) makes the video's and the overall PSNR ``inf``. Here every frame
  counts at most ``PSNR_CAP_DB`` in the averages, and the summary and its table
  say how many frames were capped.
"""
import logging
import math
import warnings
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from scipy import linalg
from scipy.ndimage import uniform_filter

from .i3d import InceptionI3d, load_i3d
from seg.utils.optical_flow import dis_flow  # noqa: F401  (the default flow_fn; re-exported)

__all__ = [
    'PIXEL_MAX', 'PSNR_CAP_DB', 'SSIM_WIN_SIZE', 'psnr', 'ssim', 'frechet_distance', 'i3d_features', 'vfid_from_features', 'vfid',
    'build_vfid_network', 'dis_flow', 'warp_by_flow', 'flow_occlusion', 'warping_error', 'summarise_scores',
    'format_score_table'
]

#: Peak value of the frames (the official ``data_range``).
PIXEL_MAX = 255.0
#: Most a frame's PSNR (dB) counts in averages; identical frames (``inf``) count this much.
PSNR_CAP_DB = 100.0
#: Side of SSIM's uniform window in the official evaluation.
SSIM_WIN_SIZE = 65
#: SSIM stabilising constants (scikit-image's defaults, times ``data_range``).
SSIM_K1, SSIM_K2 = 0.01, 0.03
#: Added to the covariance diagonals when their product's square root is not finite (official ``eps``).
FRECHET_EPS = 1e-6
#: Largest imaginary part of sqrtm's diagonal accepted as numerical noise.
FRECHET_IMAG_ATOL = 1e-3
#: Lai et al.'s forward-backward consistency test: |f + b_w|² > ALPHA (|f|² + |b_w|²) + BETA is occluded.
OCCLUSION_ALPHA, OCCLUSION_BETA = 0.01, 0.5
#: Lai et al.'s motion boundary test: |∇f|² > ALPHA |f|² + BETA is excluded too.
BOUNDARY_ALPHA, BOUNDARY_BETA = 0.01, 0.002

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _check_pair(img1: np.ndarray, img2: np.ndarray) -> None:
    if img1.shape != img2.shape:
        raise ValueError(f'frames to compare must have one shape, got {img1.shape} and {img2.shape}')


def psnr(img1: np.ndarray, img2: np.ndarray, data_range: float = PIXEL_MAX) -> float:
    """Peak signal-to-noise ratio of two frames (official ``calculate_psnr``).

    Args:
        img1, img2: Frames of one shape, e.g. (H, W, 3), on the 0..``data_range`` scale.
        data_range: Peak value.

    Returns:
        PSNR in dB; ``inf`` when the frames are identical.
    """
    img1, img2 = np.asarray(img1), np.asarray(img2)
    _check_pair(img1, img2)
    mse = np.mean((img1.astype(np.float64) - img2.astype(np.float64))**2)
    if mse == 0:
        return math.inf
    return float(20 * np.log10(data_range / np.sqrt(mse)))


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float, win_size: int) -> float:
    """Mean SSIM of two (H, W) float64 images: uniform window, sample covariance, border cropped."""
    num = win_size**2
    cov_norm = num / (num - 1)
    mean_x = uniform_filter(x, size=win_size)
    mean_y = uniform_filter(y, size=win_size)
    var_x = cov_norm * (uniform_filter(x * x, size=win_size) - mean_x * mean_x)
    var_y = cov_norm * (uniform_filter(y * y, size=win_size) - mean_y * mean_y)
    cov_xy = cov_norm * (uniform_filter(x * y, size=win_size) - mean_x * mean_y)
    c1, c2 = (SSIM_K1 * data_range)**2, (SSIM_K2 * data_range)**2
    ssim_map = ((2 * mean_x * mean_y + c1) * (2 * cov_xy + c2) / ((mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)))
    pad = (win_size - 1) // 2
    return float(ssim_map[pad:ssim_map.shape[0] - pad, pad:ssim_map.shape[1] - pad].mean(dtype=np.float64))


def ssim(img1: np.ndarray, img2: np.ndarray, data_range: float = PIXEL_MAX, win_size: int = SSIM_WIN_SIZE) -> float:
    """Mean structural similarity of two frames, as the official ``compare_ssim`` call computes it.

    Equal to ``skimage.metrics.structural_similarity(img1, img2, data_range=data_range,
    channel_axis=-1, win_size=win_size)`` on float64 frames (see the module docstring).

    Args:
        img1, img2: (H, W, C) or (H, W) frames of one shape, on the 0..``data_range`` scale;
            H and W at least ``win_size``.
        data_range: Peak value.
        win_size: Odd side of the uniform window.

    Returns:
        SSIM, the mean over channels of each channel's mean SSIM; 1 for identical frames.
    """
    img1, img2 = np.asarray(img1, dtype=np.float64), np.asarray(img2, dtype=np.float64)
    _check_pair(img1, img2)
    if win_size % 2 != 1:
        raise ValueError(f'win_size must be odd, got {win_size}')
    if img1.ndim not in (2, 3) or min(img1.shape[:2]) < win_size:
        raise ValueError(f'SSIM needs (H, W[, C]) frames with H, W >= {win_size}, got shape {img1.shape}')
    if img1.ndim == 2:
        return _ssim_channel(img1, img2, data_range, win_size)
    return float(np.mean([_ssim_channel(img1[..., c], img2[..., c], data_range, win_size)
                          for c in range(img1.shape[2])]))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = FRECHET_EPS) -> float:
    """Fréchet distance of two Gaussians: |mu1 - mu2|² + tr(S1 + S2 - 2 sqrt(S1 S2)).

    Args:
        mu1, mu2: (D,) means.
        sigma1, sigma2: (D, D) covariances.
        eps: Added to both diagonals when sqrt(S1 S2) is not finite (near-singular product).

    Returns:
        The squared distance (a float >= 0 up to rounding).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f'Gaussians of different dimensions: means {mu1.shape}, {mu2.shape}, covariances '
                         f'{sigma1.shape}, {sigma2.shape}')
    diff = mu1 - mu2
    with warnings.catch_warnings():
        # A singular product is expected with fewer videos than feature dimensions; the official
        # silences the same report (disp=False) and only reacts to non-finite results.
        warnings.simplefilter('ignore', linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            print_log(f'Fréchet distance: singular covariance product, adding {eps} to the diagonals',
                      logger='current', level=logging.WARNING)
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=FRECHET_IMAG_ATOL):
            raise ValueError(f'Fréchet distance: sqrtm has an imaginary part of {np.abs(covmean.imag).max():.3g}; '
                             'the features are degenerate (too few videos?)')
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _uint8_video(video: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) on 0..255 → uint8 the way the official makes PIL images of it (clip, then truncate)."""
    video = np.asarray(video)
    if video.dtype == np.uint8:
        return video
    return np.clip(video, 0, 255).astype(np.uint8)


def i3d_features(video: np.ndarray, i3d: InceptionI3d) -> np.ndarray:
    """The VFID feature of one video: the whole clip through I3D.

    Args:
        video: (T, H, W, 3) RGB on 0..255 (floats are truncated to uint8 first, as the official does).
        i3d: The network (its device is used).

    Returns:
        (1024,) float32 feature.
    """
    video = _uint8_video(video)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f'a video must be (T, H, W, 3), got shape {video.shape}')
    device = next(i3d.parameters()).device
    clip = torch.from_numpy(video).to(device).permute(3, 0, 1, 2)[None].float() / 255
    with torch.no_grad():
        return i3d.features(clip)[0].cpu().numpy()


def vfid_from_features(real_features: np.ndarray, fake_features: np.ndarray) -> float:
    """Fréchet distance between the feature distributions of real and completed videos (official ``calculate_vfid``).

    Args:
        real_features, fake_features: (N, D) one feature per video, N >= 2 each.

    Returns:
        VFID.
    """
    real_features, fake_features = np.asarray(real_features, np.float64), np.asarray(fake_features, np.float64)
    if real_features.ndim != 2 or real_features.shape != fake_features.shape or len(real_features) < 2:
        raise ValueError(f'VFID needs (N, D) features with N >= 2 videos on both sides, got {real_features.shape} '
                         f'and {fake_features.shape}')
    return frechet_distance(real_features.mean(0), np.cov(real_features, rowvar=False), fake_features.mean(0),
                            np.cov(fake_features, rowvar=False))


def build_vfid_network(weights: Optional[str], device: Optional[str] = None) -> Optional[InceptionI3d]:
    """The I3D network for VFID, or None (with a logged reason) when no local weights are given or found.

    Args:
        weights: Path of ``i3d_rgb_imagenet.pt``, or None.
        device: Where to run it; None picks CUDA when available.

    Returns:
        The network in eval mode, or None: VFID is then skipped.
    """
    if weights is None:
        return None
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        return load_i3d(weights, device)
    except FileNotFoundError as error:
        print_log(f'VFID skipped: {error}', logger='current', level=logging.WARNING)
        return None


def vfid(real_videos: Sequence[np.ndarray], fake_videos: Sequence[np.ndarray],
         i3d: Optional[InceptionI3d]) -> Optional[float]:
    """VFID between real and completed videos (official evaluation).

    Args:
        real_videos, fake_videos: Equally many (T, H, W, 3) videos on 0..255, at least 2.
        i3d: The network (:func:`build_vfid_network`); None skips VFID.

    Returns:
        VFID, or None when ``i3d`` is None.
    """
    if i3d is None:
        return None
    if len(real_videos) != len(fake_videos):
        raise ValueError(f'{len(real_videos)} real but {len(fake_videos)} completed videos; pass pairs')
    real = np.stack([i3d_features(v, i3d) for v in real_videos])
    fake = np.stack([i3d_features(v, i3d) for v in fake_videos])
    return vfid_from_features(real, fake)


def warp_by_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``p + flow(p)`` bilinearly, clamping at the border (FlowNet2's Resample2d).

    Args:
        image: (H, W) or (H, W, C) float array.
        flow: (H, W, 2) flow in px, (x, y).

    Returns:
        float32 array of ``image``'s shape: ``image`` brought onto the flow's grid.
    """
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(np.asarray(image, np.float32), grid_x + flow[..., 0].astype(np.float32),
                     grid_y + flow[..., 1].astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flow_occlusion(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Pixels of frame t without a reliable match in frame t+1 (Lai et al.'s ``detect_occlusion``).

    A pixel is excluded when the forward flow and the backward flow warped onto
    frame t do not cancel (|f + b_w|² > 0.01 (|f|² + |b_w|²) + 0.5) or when it
    lies on a motion boundary (|∇f_x|² + |∇f_y|² > 0.01 |f|² + 0.002, forward
    differences).

    Args:
        forward: (H, W, 2) flow t → t+1 on frame t's grid.
        backward: (H, W, 2) flow t+1 → t on frame t+1's grid.

    Returns:
        (H, W) bool, True = occluded or unreliable.
    """
    backward_warped = warp_by_flow(backward, forward)
    round_trip = np.sum((forward + backward_warped)**2, axis=-1)
    magnitude = np.sum(forward**2, axis=-1) + np.sum(backward_warped**2, axis=-1)
    inconsistent = round_trip > OCCLUSION_ALPHA * magnitude + OCCLUSION_BETA
    gradient = np.zeros(forward.shape[:2])
    for c in range(2):
        du = np.zeros(forward.shape[:2])
        dv = np.zeros(forward.shape[:2])
        du[:, :-1] = forward[:, :-1, c] - forward[:, 1:, c]
        dv[:-1, :] = forward[:-1, :, c] - forward[1:, :, c]
        gradient += du**2 + dv**2
    boundary = gradient > BOUNDARY_ALPHA * np.sum(forward**2, axis=-1) + BOUNDARY_BETA
    return inconsistent | boundary


def warping_error(frames: np.ndarray, flow_frames: Optional[np.ndarray] = None, flow_fn: FlowFn = dis_flow) -> float:
    """Flow warping error E_warp of a video (Lai et al. 2018).

    For each pair (t, t+1): the forward flow f (t → t+1) and backward flow
    (t+1 → t) are estimated on ``flow_frames``, the reference video: the ground
    truth, as Lai et al. estimate them on the original video, never on the
    result being scored. Frame t+1 of ``frames`` is warped onto frame t with f
    (sampled at p + f(p)); the error is the mean squared difference, frames
    scaled to [0, 1], over the non-occluded pixels (:func:`flow_occlusion`) and
    the 3 channels (over all pixels when every pixel is occluded). E_warp is the
    mean over the T - 1 pairs. Papers print it times a power of ten; compare only
    values computed with the same ``flow_fn``.

    Args:
        frames: (T, H, W, 3) video to score, on 0..255, T >= 2.
        flow_frames: (T, H, W, 3) reference video for flow and occlusion; None
            uses ``frames`` itself (only when no ground truth exists).
        flow_fn: ``flow_fn(img1, img2) -> (H, W, 2)`` flow from img1 to img2
            (see :func:`dis_flow`); pass a network (SPyNet, RAFT) wrapper to
            match published numbers.

    Returns:
        E_warp (unscaled, in squared [0, 1] intensity units).
    """
    frames = np.asarray(frames)
    reference = frames if flow_frames is None else np.asarray(flow_frames)
    if frames.ndim != 4 or frames.shape != reference.shape or len(frames) < 2:
        raise ValueError(f'E_warp needs (T, H, W, 3) videos with T >= 2 and one shape, got {frames.shape} and '
                         f'{reference.shape}')
    scaled = frames.astype(np.float32) / PIXEL_MAX
    errors = []
    for t in range(len(frames) - 1):
        forward = flow_fn(reference[t], reference[t + 1])
        backward = flow_fn(reference[t + 1], reference[t])
        valid = ~flow_occlusion(forward, backward)
        diff = (warp_by_flow(scaled[t + 1], forward) - scaled[t]) * valid[..., None]
        count = valid.sum() * frames.shape[-1] if valid.any() else diff.size
        errors.append(float(np.sum(diff.astype(np.float64)**2) / count))
    return float(np.mean(errors))


def summarise_scores(per_video: Mapping[str, Mapping[str, object]]) -> Dict[str, Dict[str, float]]:
    """Per-video means and the overall scores from per-frame PSNR/SSIM and per-video E_warp.

    Args:
        per_video: ``{video: {'psnr': [per frame], 'ssim': [per frame], 'ewarp': float (optional)}}``.

    Returns:
        ``{'videos': {video: {'num_frames', 'PSNR', 'SSIM'[, 'E_warp'][, 'psnr_capped_frames']}},
        'overall': {'num_videos', 'num_frames', 'PSNR', 'SSIM'[, 'E_warp'][, 'psnr_capped_frames']}}``:
        overall PSNR/SSIM are means over all frames, overall E_warp the mean over videos. A frame's
        PSNR counts at most ``PSNR_CAP_DB`` (an identical frame's ``inf`` too);
        ``psnr_capped_frames``, present when not 0, counts the frames capped.
    """
    videos: Dict[str, Dict[str, float]] = {}
    all_psnr: List[float] = []
    all_ssim: List[float] = []
    ewarps = []
    for name, scores in per_video.items():
        frame_psnr = [min(float(value), PSNR_CAP_DB) for value in scores['psnr']]
        frame_ssim = list(scores['ssim'])
        entry = dict(num_frames=len(frame_psnr), PSNR=float(np.mean(frame_psnr)), SSIM=float(np.mean(frame_ssim)))
        capped = sum(value > PSNR_CAP_DB for value in scores['psnr'])
        if capped:
            entry['psnr_capped_frames'] = capped
        if scores.get('ewarp') is not None:
            entry['E_warp'] = float(scores['ewarp'])
            ewarps.append(entry['E_warp'])
        videos[name] = entry
        all_psnr += frame_psnr
        all_ssim += frame_ssim
    overall = dict(num_videos=len(videos), num_frames=len(all_psnr),
                   PSNR=float(np.mean(all_psnr)) if all_psnr else math.nan,
                   SSIM=float(np.mean(all_ssim)) if all_ssim else math.nan)
    if ewarps:
        overall['E_warp'] = float(np.mean(ewarps))
    capped = sum(entry.get('psnr_capped_frames', 0) for entry in videos.values())
    if capped:
        overall['psnr_capped_frames'] = capped
    return dict(videos=videos, overall=overall)


def format_score_table(summary: Mapping[str, Mapping]) -> str:
    """A text table of :func:`summarise_scores` output (plus ``overall['VFID']`` when present): one row per video.

    Args:
        summary: ``{'videos': {...}, 'overall': {...}}``.

    Returns:
        The table, rows separated by newlines, the overall row last; then, when frames were
        capped (``psnr_capped_frames``), a line saying so.
    """
    columns = [('PSNR', '{:.4f}'), ('SSIM', '{:.4f}'), ('E_warp', '{:.6f}'), ('VFID', '{:.4f}')]
    shown = [(key, fmt) for key, fmt in columns
             if key in summary['overall'] or any(key in v for v in summary['videos'].values())]
    header = ['video', 'frames'] + [key for key, _ in shown]
    rows = []
    for name, scores in list(summary['videos'].items()) + [('overall', summary['overall'])]:
        rows.append([name, str(scores['num_frames'])] +
                    [fmt.format(scores[key]) if key in scores and scores[key] is not None else '-'
                     for key, fmt in shown])
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    lines = ['  '.join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header] + rows]
    rule = '-' * len(lines[0])
    note = []
    capped = summary['overall'].get('psnr_capped_frames', 0)
    if capped:
        note = [f'PSNR: {capped} frame(s) scored above {PSNR_CAP_DB:g} dB (inf: identical to the ground truth) and '
                f'count {PSNR_CAP_DB:g} dB in the averages']
    return '\n'.join([lines[0], rule] + lines[1:-1] + [rule, lines[-1]] + note)
