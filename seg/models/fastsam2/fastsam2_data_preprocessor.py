"""Batch images and clips of different tasks together: every frame normalised and padded to one size."""
from typing import List

import torch.nn.functional as F
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.structures import TrackDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import PixelData

from seg.registry import MODELS


def frames_of(sample) -> List:
    """The frame samples of a data sample: a clip's frames, or the image sample itself."""
    return list(sample) if isinstance(sample, TrackDataSample) else [sample]


@MODELS.register_module()
class FastSAM2DataPreprocessor(DetDataPreprocessor):
    """mmdet's ``DetDataPreprocessor`` for a batch that mixes images (3, H, W) and clips (T, 3, H, W).

    Every frame of every sample is one image of the batch: BGR→RGB, normalised,
    padded to the batch's size (a multiple of ``pad_size_divisor``). The result
    is ``inputs`` (N, 3, H', W') with N the total number of frames, in sample
    order; ``data_samples`` keep their structure (a clip's frames are replaced by
    the processed frame samples). In training, ground truth is padded to
    (H', W') for the losses, whatever its form: ``gt_instances.masks``
    (BitmapMasks or (K, H, W) tensors) with 0, ``gt_sem_seg`` with
    ``seg_pad_value``; at test it stays at ``img_shape``, where the metrics
    compare it with the predictions (mmdet's preprocessor, too, pads only in
    training). Prompts stay at ``img_shape``.

    Args:
        **kwargs: ``DetDataPreprocessor`` arguments (``pad_mask`` / ``pad_seg``
            are handled here for every sample and are ignored).
    """

    def __init__(self, **kwargs):
        kwargs.update(pad_mask=False, pad_seg=False)
        super().__init__(**kwargs)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Collate ``data`` (``inputs`` list, ``data_samples`` list) into (N, 3, H', W') and samples."""
        samples = data.get('data_samples')
        if samples is None:
            return super().forward(data, training)
        frames, frame_samples = [], []
        for inputs, sample in zip(data['inputs'], samples):
            clip = isinstance(sample, TrackDataSample)
            if clip != (inputs.dim() == 4):
                raise ValueError(f'a {"clip" if clip else "image"} sample needs '
                                 f'{"(T, 3, H, W)" if clip else "(3, H, W)"} inputs; got {tuple(inputs.shape)}')
            frames.extend(inputs if clip else [inputs])
            frame_samples.extend(frames_of(sample))
        out = super().forward(dict(inputs=frames, data_samples=frame_samples), training)
        processed = iter(out['data_samples'])
        batch = []
        for sample in samples:
            if isinstance(sample, TrackDataSample):
                sample.video_data_samples = [next(processed) for _ in range(len(sample))]
                batch.append(sample)
            else:
                batch.append(next(processed))
        if training:
            for frame in out['data_samples']:
                self._pad_ground_truth(frame)
        return dict(inputs=out['inputs'], data_samples=batch)

    def _pad_ground_truth(self, frame) -> None:
        height, width = frame.metainfo['batch_input_shape']
        if 'gt_instances' in frame and 'masks' in frame.gt_instances:
            masks = frame.gt_instances.masks
            if isinstance(masks, BitmapMasks):
                frame.gt_instances.masks = masks.pad((height, width), pad_val=self.mask_pad_value)
            else:
                frame.gt_instances.masks = F.pad(masks, (0, width - masks.shape[-1], 0, height - masks.shape[-2]))
        if 'gt_sem_seg' in frame:
            seg = frame.gt_sem_seg.sem_seg
            padded = F.pad(seg, (0, width - seg.shape[-1], 0, height - seg.shape[-2]), value=self.seg_pad_value)
            frame.gt_sem_seg = PixelData(sem_seg=padded, metainfo=frame.gt_sem_seg.metainfo)

    @staticmethod
    def frame_counts(data_samples) -> List[int]:
        """Frames per sample (1 for an image), in batch order."""
        return [len(s) if isinstance(s, TrackDataSample) else 1 for s in data_samples]

