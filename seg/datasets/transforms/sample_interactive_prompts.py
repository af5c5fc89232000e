"""Interactive (promptable) image samples from panoptic ones: K segments, one prompt each, target k for prompt k."""
from typing import Any, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from seg.registry import TRANSFORMS
from seg.utils.prompts import interior_points

#: Prompt kinds a segment may get: clicks (1..max_positive_points positives, maybe one negative), its jittered
#: bounding box, that box plus one positive click, a rough version of its mask.
PROMPT_MODES = ('points', 'box', 'box_point', 'mask')
#: Rough-mask corruptions, drawn uniformly.
ROUGH_MASK_OPS = ('erode', 'dilate', 'resample')


def _mask_array(masks: Any) -> np.ndarray:
    """(N, H, W) bool ndarray of ``BitmapMasks``, a tensor or an ndarray."""
    if hasattr(masks, 'to_ndarray'):
        masks = masks.to_ndarray()
    if isinstance(masks, torch.Tensor):
        masks = masks.cpu().numpy()
    return np.asarray(masks).astype(bool)


def mask_box(mask: np.ndarray) -> np.ndarray:
    """The tight box of a non-empty (H, W) mask: (4,) float32 ``x1, y1, x2, y2`` with exclusive x2, y2."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)


@TRANSFORMS.register_module()
class SampleInteractivePrompts(BaseTransform):
    """Turn a packed panoptic sample into an interactive one.

    Put it at the end of the pipeline, after ``PanopticSegmentsAsInstances``
    (so stuff regions are segments too) and ``PackDetInputs``; it works on the
    packed ``DetDataSample``, whose masks are at ``img_shape`` (do not pad
    them before). It picks K segments among the non-empty ones of
    ``gt_instances`` (crowd segments are in ``ignored_instances`` and never
    picked), prompts each, and leaves ``gt_instances`` holding exactly those K
    segments in prompt order, with ``masks`` a (K, H, W) bool tensor (the other
    fields, ``labels`` and ``bboxes``, follow the same rows).

    ``data_sample.prompts`` (an ``InstanceData`` of K rows) holds only the
    fields some segment of the image uses:

    * ``points`` (K, P, 2) float32 ``(x, y)`` = (column, row) of the clicked
      pixel, and ``point_labels`` (K, P) int64: 1 positive, 0 negative, -1
      padding (a row of a segment without clicks is all -1);
    * ``boxes`` (K, 4) float32 ``x1, y1, x2, y2`` pixels, with ``has_box`` (K,)
      bool (rows without a box are zeros);
    * ``masks`` (K, H, W) bool, with ``has_mask`` (K,) bool (rows without a
      mask prompt are all False).

    Training draws, per segment, a mode uniformly from ``modes``:

    * ``points``: 1..``max_positive_points`` distinct uniform foreground pixels,
      plus with probability ``negative_prob`` one negative click, a background
      pixel near the segment (inside its box grown by a quarter of its size on
      each side, or anywhere off the segment when that box holds none);
    * ``box``: the tight box, each coordinate moved by Gaussian noise of
      ``box_noise`` times the box's side (at most ``max_box_noise`` pixels, as
      SAM), clipped to the image and kept at least one pixel wide;
    * ``box_point``: that box plus one positive click;
    * ``mask``: the mask eroded or dilated by a disk of radius 1..``max_mask_radius``,
      or down-sampled by 2..``max_mask_downsample`` and up-sampled back (a
      segment these would empty keeps its own mask).

    Test mode is deterministic: every non-empty segment, in ``gt_instances``
    order, gets one positive click at its most interior pixel
    (:func:`seg.utils.prompts.interior_points`), as RAP-SAM evaluates.

    Random numbers come from ``numpy``'s global generator (seeded per worker by
    mmengine), as mmcv's transforms draw them.

    Args:
        num_objects: K, the most segments prompted per image in training (a
            random subset, in random order); test mode prompts all of them.
        modes: prompt modes drawn from, a non-empty subset of :data:`PROMPT_MODES`.
        one_mode_per_image: draw one mode for all segments of an image, so every
            row uses the same prompt fields (``has_box`` / ``has_mask`` are then
            all True); otherwise one mode per segment.
        max_positive_points: most positive clicks of the ``points`` mode.
        negative_prob: chance that the ``points`` mode adds a negative click.
        box_noise: standard deviation of a box coordinate's jitter, as a
            fraction of the box's width (x) or height (y).
        max_box_noise: largest jitter of a box coordinate, pixels.
        max_mask_radius: largest erosion / dilation radius of the rough mask, pixels.
        max_mask_downsample: largest down-sampling factor of the rough mask.
        test_mode: one interior click per segment, every segment, no randomness.
    """

    def __init__(self,
                 num_objects: int = 8,
                 modes: Sequence[str] = PROMPT_MODES,
                 one_mode_per_image: bool = False,
                 max_positive_points: int = 3,
                 negative_prob: float = 0.5,
                 box_noise: float = 0.1,
                 max_box_noise: float = 20.0,
                 max_mask_radius: int = 5,
                 max_mask_downsample: int = 8,
                 test_mode: bool = False):
        unknown = [m for m in modes if m not in PROMPT_MODES]
        if not modes or unknown:
            raise ValueError(f'modes must be a non-empty subset of {PROMPT_MODES}, got {list(modes)}')
        if num_objects < 1 or max_positive_points < 1 or max_mask_radius < 1 or max_mask_downsample < 2:
            raise ValueError('num_objects, max_positive_points and max_mask_radius must be >= 1 and '
                             'max_mask_downsample >= 2')
        if not 0 <= negative_prob <= 1:
            raise ValueError(f'negative_prob must lie in [0, 1], got {negative_prob}')
        self.num_objects = num_objects
        self.modes = tuple(modes)
        self.one_mode_per_image = one_mode_per_image
        self.max_positive_points = max_positive_points
        self.negative_prob = negative_prob
        self.box_noise = box_noise
        self.max_box_noise = max_box_noise
        self.max_mask_radius = max_mask_radius
        self.max_mask_downsample = max_mask_downsample
        self.test_mode = test_mode

    def transform(self, results: dict) -> dict:
        """Set ``prompts`` on ``results['data_samples']`` and cut its ``gt_instances`` to the prompted segments."""
        data_sample = results.get('data_samples')
        if not isinstance(data_sample, DetDataSample) or 'masks' not in data_sample.get('gt_instances', {}):
            raise KeyError('SampleInteractivePrompts works on packed samples with gt_instances.masks: put it after '
                           'LoadPanopticAnnotations(with_mask=True), PanopticSegmentsAsInstances and PackDetInputs')
        masks = _mask_array(data_sample.gt_instances.masks)
        nonempty = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
        if self.test_mode:
            picked = nonempty
            prompts = self._interior_prompts(masks[picked])
        else:
            picked = np.random.permutation(nonempty)[:self.num_objects]
            prompts = self._random_prompts(masks[picked])
        picked_masks = masks[picked]
        targets = data_sample.gt_instances[torch.from_numpy(picked).long()]
        targets.masks = torch.from_numpy(picked_masks)
        data_sample.gt_instances = targets
        data_sample.prompts = prompts
        return results

    def _interior_prompts(self, masks: np.ndarray) -> InstanceData:
        """One positive click at the most interior pixel of each (K, H, W) mask."""
        points = interior_points(torch.from_numpy(masks)).float()
        return InstanceData(points=points[:, None], point_labels=torch.ones((len(masks), 1), dtype=torch.long))

    def _random_prompts(self, masks: np.ndarray) -> InstanceData:
        """A prompt of a random mode for each (K, H, W) mask, gathered into the fields the modes use."""
        num = len(masks)
        if self.one_mode_per_image:
            modes = [self.modes[np.random.randint(len(self.modes))]] * num
        else:
            modes = [self.modes[i] for i in np.random.randint(len(self.modes), size=num)]
        clicks: List[List[Tuple[int, int, int]]] = [[] for _ in range(num)]
        boxes: List[Optional[np.ndarray]] = [None] * num
        rough: List[Optional[np.ndarray]] = [None] * num
        for k, (mode, mask) in enumerate(zip(modes, masks)):
            if mode == 'points':
                count = np.random.randint(1, self.max_positive_points + 1)
                clicks[k] = [(x, y, 1) for x, y in self._foreground_pixels(mask, count)]
                if np.random.rand() < self.negative_prob:
                    clicks[k] += [(x, y, 0) for x, y in self._negative_pixel(mask)]
            elif mode in ('box', 'box_point'):
                boxes[k] = self._jittered_box(mask)
                if mode == 'box_point':
                    clicks[k] = [(x, y, 1) for x, y in self._foreground_pixels(mask, 1)]
            else:
                rough[k] = self._rough_mask(mask)
        prompts = InstanceData()
        if any(clicks) or num == 0:
            width = max([1] + [len(c) for c in clicks])
            points = torch.zeros((num, width, 2), dtype=torch.float32)
            labels = torch.full((num, width), -1, dtype=torch.long)
            for k, row in enumerate(clicks):
                for p, (x, y, label) in enumerate(row):
                    points[k, p] = torch.tensor([x, y], dtype=torch.float32)
                    labels[k, p] = label
            prompts.points, prompts.point_labels = points, labels
        if any(b is not None for b in boxes):
            prompts.boxes = torch.from_numpy(np.stack([np.zeros(4, np.float32) if b is None else b for b in boxes]))
            prompts.has_box = torch.tensor([b is not None for b in boxes])
        if any(m is not None for m in rough):
            prompts.masks = torch.from_numpy(np.stack([np.zeros_like(masks[0]) if m is None else m for m in rough]))
            prompts.has_mask = torch.tensor([m is not None for m in rough])
        return prompts

    @staticmethod
    def _foreground_pixels(mask: np.ndarray, count: int) -> List[Tuple[int, int]]:
        """``count`` distinct uniform pixels of the mask (fewer if it has fewer), as (x, y)."""
        pixels = np.flatnonzero(mask)
        chosen = np.random.choice(pixels, size=min(count, pixels.size), replace=False)
        rows, cols = np.unravel_index(chosen, mask.shape)
        return [(int(c), int(r)) for r, c in zip(rows, cols)]

    @staticmethod
    def _negative_pixel(mask: np.ndarray) -> List[Tuple[int, int]]:
        """One uniform background pixel near the mask, as [(x, y)]; [] when the mask covers the image."""
        height, width = mask.shape
        x1, y1, x2, y2 = mask_box(mask)
        grow_x, grow_y = (x2 - x1) / 4 + 1, (y2 - y1) / 4 + 1
        near = np.zeros_like(mask)
        near[max(0, int(y1 - grow_y)):min(height, int(np.ceil(y2 + grow_y))),
             max(0, int(x1 - grow_x)):min(width, int(np.ceil(x2 + grow_x)))] = True
        for region in (near & ~mask, ~mask):
            pixels = np.flatnonzero(region)
            if pixels.size:
                row, col = np.unravel_index(np.random.choice(pixels), mask.shape)
                return [(int(col), int(row))]
        return []

    def _jittered_box(self, mask: np.ndarray) -> np.ndarray:
        """The mask's tight box with SAM's noise: (4,) float32 ``x1, y1, x2, y2`` inside the image."""
        height, width = mask.shape
        box = mask_box(mask)
        side = np.array([box[2] - box[0], box[3] - box[1]] * 2, dtype=np.float32)
        noise = np.clip(np.random.randn(4) * self.box_noise * side, -self.max_box_noise, self.max_box_noise)
        box = np.clip(box + noise.astype(np.float32), 0, [width, height, width, height]).astype(np.float32)
        # keep x1 < x2, y1 < y2 (at least one pixel) inside the image
        box[0], box[1] = min(box[0], width - 1), min(box[1], height - 1)
        box[2], box[3] = max(box[2], box[0] + 1), max(box[3], box[1] + 1)
        return box

    def _rough_mask(self, mask: np.ndarray) -> np.ndarray:
        """The mask eroded, dilated or resampled: (H, W) bool, never empty."""
        op = ROUGH_MASK_OPS[np.random.randint(len(ROUGH_MASK_OPS))]
        height, width = mask.shape
        if op == 'resample':
            factor = np.random.randint(2, self.max_mask_downsample + 1)
            small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
            small = cv2.resize(mask.astype(np.float32), small_size, interpolation=cv2.INTER_AREA)
            rough = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5
        else:
            radius = np.random.randint(1, self.max_mask_radius + 1)
            disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            rough = (cv2.erode if op == 'erode' else cv2.dilate)(mask.astype(np.uint8), disk).astype(bool)
        return rough if rough.any() else mask.copy()

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_objects={self.num_objects}, modes={self.modes}, '
                f'one_mode_per_image={self.one_mode_per_image}, test_mode={self.test_mode})')
