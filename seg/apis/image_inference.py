"""Segment one image with RapSAM or FastSAM2: panoptic results, or masks of the objects the prompts give."""
from pathlib import Path
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData

from seg.fileio.errors import InputError
from seg.models.fastsam2 import FastSAM2, PromptError
from seg.registry import MODELS
from seg.utils.prompts import points_to_boxes

from .prompts import check_prompt
from .runner import load_config


def init_model(config: str, weights: Optional[str] = None, device: str = 'cpu') -> torch.nn.Module:
    """Build the config's model in eval mode on ``device`` and load ``weights`` (strict) if given."""
    cfg = load_config(config)
    with DefaultScope.overwrite_default_scope('seg'):
        model = MODELS.build(cfg.model)
    if weights is not None:
        if not Path(weights).is_file():
            raise FileNotFoundError(f'weights file {weights} not found')
        load_checkpoint(model, weights, map_location='cpu', strict=True)
    return model.to(device).eval()


class ImageReadError(InputError):
    """A file :func:`read_image` cannot decode as an image."""


def read_image(path: Union[str, Path]) -> np.ndarray:
    """(H, W, 3) uint8 BGR image; a missing file (FileNotFoundError) or an undecodable one (ImageReadError) is named."""
    if not Path(path).is_file():
        raise FileNotFoundError(f'image {path} not found')
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageReadError(f'{path} is not an image: OpenCV cannot decode it; give a JPEG, PNG or BMP file')
    return image


def is_fastsam2(model: torch.nn.Module) -> bool:
    """Whether ``model`` takes FastSAM2's prompts (points, boxes, masks, texts through a ``prompt_fusion``)."""
    return isinstance(model, FastSAM2) or hasattr(model, 'prompt_fusion')


def segment_image(model: torch.nn.Module, image: np.ndarray, points: Optional[Sequence[Sequence[float]]] = None,
                  boxes: Optional[Sequence[Sequence[float]]] = None, text: Optional[str] = None) -> DetDataSample:
    """Run ``model`` on one BGR image (H, W, 3) uint8 at its own size.

    Without prompts the sample gets ``pred_panoptic_seg`` / ``pred_instances``
    (panoptic segmentation). With prompts — ``points`` (x, y) pixels (positive
    clicks), ``boxes`` (x1, y1, x2, y2) pixels, ``text`` a sentence — it gets
    ``pred_instances.masks`` (K, H, W) bool, one mask per object:

    - FastSAM2 (``prompt_fusion``): one object per box, each with its box, all
      the points and the text; without boxes, one object from the points and/or
      the text together. So K = number of boxes, or 1.
    - RapSAM: one object per point, then one per box (K = points + boxes); it
      takes no text.

    Raises:
        PromptError: a text for a model without ``prompt_fusion``, or a prompt
            FastSAM2 cannot use (a point outside the image, a box with x2 < x1,
            an empty text, ...), naming the object.
    """
    height, width = image.shape[:2]
    sample = DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                         scale_factor=(1.0, 1.0)))
    if is_fastsam2(model):
        prompts = fastsam2_prompts(points, boxes, text)
        if prompts is not None:
            _check_fastsam2_prompts(prompts, (height, width))
            sample.prompts = prompts
    else:
        if text is not None:
            raise PromptError(f'{type(model).__name__} takes no text prompt ({text!r}): give points or boxes, or use '
                              'a FastSAM2 model (one with prompt_fusion) for text')
        _rapsam_prompts(sample, points, boxes)
    inputs = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[inputs], data_samples=[sample]), False)
        return model.predict(data['inputs'], data['data_samples'])[0]


def fastsam2_prompts(points: Optional[Sequence[Sequence[float]]] = None,
                     boxes: Optional[Sequence[Sequence[float]]] = None,
                     text: Optional[str] = None) -> Optional[InstanceData]:
    """FastSAM2's ``prompts`` for :func:`segment_image`'s rule; None without any prompt.

    One object per box, each with all the points (P, 2) (labels 1) and the
    text; without boxes one object with the points and/or the text.
    """
    points = [] if points is None else list(points)
    boxes = [] if boxes is None else list(boxes)
    if not points and not boxes and text is None:
        return None
    count = max(len(boxes), 1)
    prompts = InstanceData()
    if points:
        coords = torch.tensor(points, dtype=torch.float32).reshape(1, -1, 2)
        prompts.points = coords.expand(count, -1, -1).clone()
        prompts.point_labels = torch.ones(prompts.points.shape[:2], dtype=torch.long)
    if boxes:
        prompts.boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    if text is not None:
        prompts.texts = [text] * count
    return prompts


def _check_fastsam2_prompts(prompts: InstanceData, size) -> None:
    """Check what every object shares (the points, the text) once, then each box, naming them as the user gave them."""
    shared = InstanceData(**{k: v[:1] for k, v in prompts.items() if k != 'boxes'})
    if len(shared.keys()):
        check_prompt(shared, size, 'the prompt')
    if 'boxes' in prompts:
        check_prompt(InstanceData(boxes=prompts.boxes), size, lambda obj: 'the boxes' if obj is None else f'box {obj}')


def _rapsam_prompts(sample: DetDataSample, points, boxes) -> None:
    """RapSAM's prompts: one box per point (:func:`points_to_boxes`), then the boxes, as ``gt_instances_collected``."""
    prompts = []
    if points:
        prompts.append(points_to_boxes(torch.tensor(points, dtype=torch.float32).reshape(-1, 2)))
    if boxes:
        prompts.append(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    if prompts:
        coords = torch.cat(prompts)  # (K, 4) boxes, under the official field name ``point_coords``
        sample.gt_instances_collected = InstanceData(point_coords=coords,
                                                     pb_labels=torch.ones(len(coords), dtype=torch.long))
