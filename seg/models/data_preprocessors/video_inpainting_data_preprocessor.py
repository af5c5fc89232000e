"""Batch ``VideoInpaintingDataset`` items: frames to [-1, 1], holes to float, both on the model's device."""
from typing import Any, Dict

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from seg.registry import MODELS

#: Largest 8-bit pixel value: frames ``x`` in 0..255 become ``x / 255 * 2 - 1``, as the official code maps them.
PIXEL_MAX = 255


def _stack(items: Any, key: str) -> Tensor:
    """A (B, T, C, H, W) tensor from a list of (T, C, H, W) tensors (or an already stacked tensor)."""
    if isinstance(items, Tensor):
        return items
    shapes = sorted({tuple(item.shape) for item in items})
    if len(shapes) > 1:
        raise ValueError(f'the {key} of one batch differ in shape {shapes}: whole test videos differ in length, '
                         'so test with batch_size=1 (or split them with the dataset\'s clip_length)')
    return torch.stack(list(items))


@MODELS.register_module()
class VideoInpaintingDataPreprocessor(BaseDataPreprocessor):
    """Normalise and stack the frames of a batch; move them and the data samples to the model's device.

    Input: what mmengine's default ``pseudo_collate`` makes of a list of
    :class:`~seg.datasets.VideoInpaintingDataset` items: ``inputs``, B tensors
    (T, 3, H, W) uint8 RGB 0..255, and ``data_samples``, B ``BaseDataElement``s
    whose ``masks`` are (T, 1, H, W) 0/1 (1 = hole) and whose metainfo holds
    ``video_name`` / ``frame_ids`` / ``ori_shape``.

    Output: ``inputs`` (B, T, 3, H, W) float32 in [-1, 1] (``x / 255 * 2 - 1``),
    and ``data_samples``: the B data samples on the device, their ``masks``
    float32 (T, 1, H, W) 0/1.
    """

    def forward(self, data: Dict[str, Any], training: bool = False) -> Dict[str, Any]:
        """Batch ``data`` (see the class docstring); ``training`` changes nothing."""
        for key in ('inputs', 'data_samples'):
            if key not in data:
                raise KeyError(f'a video inpainting batch needs {key!r} (VideoInpaintingDataset items); got keys '
                               f'{sorted(data)}')
        frames = _stack(data['inputs'], 'inputs')
        if frames.dtype != torch.uint8:
            raise TypeError(f'inputs must be uint8 RGB frames 0..255 (VideoInpaintingDataset items), got '
                            f'{frames.dtype}; the preprocessor maps them to [-1, 1]')
        data_samples = self.cast_data(list(data['data_samples']))
        if len(data_samples) != len(frames):
            raise ValueError(f'{len(frames)} clips but {len(data_samples)} data samples in one batch')
        expected = (frames.shape[1], 1, *frames.shape[-2:])
        for sample in data_samples:
            if tuple(sample.masks.shape) != expected:
                raise ValueError(f'video {sample.get("video_name")!r}: masks {tuple(sample.masks.shape)} do not '
                                 f'match frames {tuple(frames.shape[1:])}: expected {expected}')
            sample.masks = sample.masks.float()
        frames = self.cast_data(frames).float() / PIXEL_MAX * 2 - 1
        return dict(inputs=frames, data_samples=data_samples)
