"""Interactive segmentation with FastSAM2's prompt path: clicks, a box, a rough mask and (with a text encoder) a text."""
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData

from seg.registry import MODELS

from .segmenter_prompt import PromptNotSupportedError, SegmenterPromptError, check_segmenter_prompt


@MODELS.register_module()
class FastSAM2Segmenter:
    """One object's mask from a FastSAM2 (any model with a ``prompt_fusion``) on one frame.

    The prompt becomes one prompt object (all clicks with their labels, the box,
    the mask, the text) and is decoded on the model's prompt path at the frame's
    own size (``predict`` of an ``interactive`` / ``referring`` image sample).

    Args:
        model: the model's config (``cfg.model``) or a built model.
        checkpoint: local weights loaded strictly into a config-built model (None keeps its initialisation,
            for tests).
        device: where the model runs.
    """

    def __init__(self, model: Union[dict, nn.Module], checkpoint: Optional[Union[str, Path]] = None,
                 device: Union[str, torch.device] = 'cpu'):
        if not isinstance(model, nn.Module):
            with DefaultScope.overwrite_default_scope('seg'):
                model = MODELS.build(model)
        if not hasattr(model, 'prompt_fusion'):
            raise SegmenterPromptError(f'{type(model).__name__} takes no prompts (it has no prompt_fusion); give a '
                                       'FastSAM2 config')
        if checkpoint is not None:
            if not Path(checkpoint).is_file():
                raise FileNotFoundError(f'segmenter weights {checkpoint} not found')
            load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True, logger='silent')
        self.model = model.to(device).eval()
        #: Whether texts can be given: the prompt fusion has a text encoder.
        self.takes_text = getattr(model.prompt_fusion, 'text_encoder', None) is not None

    def segment(self, frame: np.ndarray, points: Optional[Sequence[Sequence[float]]] = None,
                labels: Optional[Sequence[int]] = None, box: Optional[Sequence[float]] = None,
                mask: Optional[np.ndarray] = None, text: Optional[str] = None) -> np.ndarray:
        """The object's (H, W) bool mask on ``frame`` (H, W, 3) uint8 RGB (prompt as :class:`GrabCutSegmenter`).

        Raises:
            PromptNotSupportedError: a text for a model without a text encoder.
            SegmenterPromptError: a malformed prompt (see :func:`check_segmenter_prompt`).
        """
        height, width = frame.shape[:2]
        points, labels = check_segmenter_prompt((height, width), points, labels, box, mask, text)
        if text is not None and not self.takes_text:
            raise PromptNotSupportedError(f'this {type(self.model).__name__} has no text encoder: give clicks, a box '
                                          f'or a mask instead of {text!r}')
        prompt = InstanceData()
        if points:
            prompt.points = torch.tensor(points, dtype=torch.float32)[None]
            prompt.point_labels = torch.tensor(labels, dtype=torch.long)[None]
        if box is not None:
            prompt.boxes = torch.tensor(np.asarray(box, np.float32).reshape(1, 4))
        if mask is not None:
            prompt.masks = torch.from_numpy(np.asarray(mask, bool))[None]
        if text is not None:
            prompt.texts = [text]
        sample = DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                             scale_factor=(1.0, 1.0)))
        sample.prompts = prompt
        bgr = torch.from_numpy(np.ascontiguousarray(frame[..., ::-1].transpose(2, 0, 1)))
        with torch.no_grad():
            data = self.model.data_preprocessor(dict(inputs=[bgr], data_samples=[sample]), False)
            result = self.model.predict(data['inputs'], data['data_samples'])[0]
        return result.pred_instances.masks[0].cpu().numpy().astype(bool)
