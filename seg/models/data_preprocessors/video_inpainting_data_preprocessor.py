"""Batch ``VideoInpaintingDataset`` items into clips and holes on the model's device."""
from typing import Any, Dict, List

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from seg.registry import MODELS

#: Per-sample metadata the dataset yields next to the frames and masks.
META_KEYS = ('video_name', 'frame_ids', 'ori_shape')


def _stack(items: Any, key: str) -> Tensor:
    """A (B, T, C, H, W) tensor from a list of (T, C, H, W) tensors (or an already stacked tensor)."""
    if isinstance(items, Tensor):
        return items
    shapes = sorted({tuple(item.shape) for item in items})
    if len(shapes) > 1:
        raise ValueError(f'the {key} of one batch differ in shape {shapes}: whole test videos differ in length, '
                         'so test with batch_size=1 (or split them with the dataset\'s clip_length)')
    return torch.stack(list(items))


def _per_sample(collated: Any, batch_size: int) -> List[Any]:
    """Undo ``pseudo_collate``'s transposition of a per-sample list or tuple (e.g. ``frame_ids``).

    ``pseudo_collate`` turns B lists of length n into n lists of length B; this
    returns the B original lists. Strings and scalars come as a list of B.
    """
    if len(collated) == batch_size and not isinstance(collated[0], (list, tuple)):
        return list(collated)
    return [[position[i] for position in collated] for i in range(batch_size)]


@MODELS.register_module()
class VideoInpaintingDataPreprocessor(BaseDataPreprocessor):
    """Stack the dataset's ``frames`` / ``masks`` and move them to the model's device.

    Input: what mmengine's default ``pseudo_collate`` makes of a list of
    :class:`~seg.datasets.VideoInpaintingDataset` items: ``frames`` and
    ``masks`` lists of B tensors (T, 3, H, W) in [-1, 1] and (T, 1, H, W) 0/1,
    and the metadata ``video_name`` / ``frame_ids`` / ``ori_shape``.

    Output: ``frames`` (B, T, 3, H, W) float in [-1, 1], ``masks`` (B, T, 1, H, W)
    float 0/1 (1 = hole), and ``data_samples``: B dicts with the metadata.
    """

    def forward(self, data: Dict[str, Any], training: bool = False) -> Dict[str, Any]:
        """Batch ``data`` (see the class docstring); ``training`` changes nothing."""
        for key in ('frames', 'masks'):
            if key not in data:
                raise KeyError(f'a video inpainting batch needs {key!r} (VideoInpaintingDataset items); got keys '
                               f'{sorted(data)}')
        frames = _stack(data['frames'], 'frames').float()
        masks = _stack(data['masks'], 'masks').float()
        if masks.shape[:2] != frames.shape[:2] or masks.shape[-2:] != frames.shape[-2:] or masks.shape[2] != 1:
            raise ValueError(f'masks {tuple(masks.shape)} do not match frames {tuple(frames.shape)}: expected '
                             '(B, T, 1, H, W) for frames (B, T, 3, H, W)')
        batch_size = frames.shape[0]
        columns = {key: _per_sample(data[key], batch_size) for key in META_KEYS if key in data}
        data_samples = [{key: values[i] for key, values in columns.items()} for i in range(batch_size)]
        for sample in data_samples:
            if 'ori_shape' in sample:
                sample['ori_shape'] = tuple(sample['ori_shape'])
        return dict(frames=self.cast_data(frames), masks=self.cast_data(masks), data_samples=data_samples)
