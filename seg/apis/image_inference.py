"""Segment one image with a RapSAM-style model: panoptic results, or one mask per point/box prompt."""
from pathlib import Path
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData

from seg.utils.prompts import points_to_boxes
from seg.registry import MODELS

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


def read_image(path: Union[str, Path]) -> np.ndarray:
    """(H, W, 3) uint8 BGR image; a missing or undecodable file is a clear error."""
    if not Path(path).is_file():
        raise FileNotFoundError(f'image {path} not found')
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'{path} is not an image: OpenCV cannot decode it')
    return image


def segment_image(model: torch.nn.Module, image: np.ndarray, points: Optional[Sequence[Sequence[float]]] = None,
                  boxes: Optional[Sequence[Sequence[float]]] = None) -> DetDataSample:
    """Run ``model`` on one BGR image (H, W, 3) uint8 at its own size.

    Without prompts the sample gets ``pred_panoptic_seg`` / ``pred_instances``;
    with ``points`` ((x, y) pixels) and/or ``boxes`` ((x1, y1, x2, y2) pixels) it
    gets ``pred_instances.masks`` (K, H, W) bool, points first, then boxes.
    """
    height, width = image.shape[:2]
    sample = DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                         scale_factor=(1.0, 1.0)))
    prompts = []
    if points:
        prompts.append(points_to_boxes(torch.tensor(points, dtype=torch.float32).reshape(-1, 2)))
    if boxes:
        prompts.append(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    if prompts:
        coords = torch.cat(prompts)  # (K, 4) boxes, under the official field name ``point_coords``
        sample.gt_instances_collected = InstanceData(point_coords=coords,
                                                     pb_labels=torch.ones(len(coords), dtype=torch.long))
    inputs = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[inputs], data_samples=[sample]), False)
        return model.predict(data['inputs'], data['data_samples'])[0]
