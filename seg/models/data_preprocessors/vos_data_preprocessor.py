"""Batch VOS training clips: stack the frames, move them to the model's device and normalise them."""
from typing import Any, Dict, Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from seg.registry import MODELS

#: ImageNet statistics of RGB in [0, 1] (XMem's encoders are ImageNet ResNets).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@MODELS.register_module()
class VOSDataPreprocessor(BaseDataPreprocessor):
    """Normalise and batch ``VOSClipDataset`` / ``StaticClipDataset`` clips for ``XMemVOS.loss``.

    Training batches (what ``pseudo_collate`` or mmengine's ``default_collate`` make of the items):
    ``inputs``, B clips (T, 3, H, W) RGB 0–255 (uint8) or one (B, T, 3, H, W) tensor, and
    ``data_samples``, B ``BaseDataElement``s (fields as the datasets document them). They become
    ``inputs`` (B, T, 3, H, W) float32 ``(x / 255 - mean) / std`` on the model's device and the data
    samples moved there. The arithmetic is the datasets' former one, so the frames are bit-identical
    to ``seg.datasets.vos_clip_dataset.normalise_frames`` of the same RGB.

    Batches without ``inputs`` (the whole-video items of ``DAVISEvalDataset`` / ``YTVOSEvalDataset``
    through ``video_collate``, whose ``frames`` the datasets normalise themselves) are only moved to the
    device, as ``BaseDataPreprocessor`` does, so ``XMemVOS.predict`` gets them as before.

    Args:
        mean: per-channel mean of RGB in [0, 1] (default ImageNet's).
        std: per-channel standard deviation of RGB in [0, 1] (default ImageNet's).
        non_blocking: copy to the device asynchronously (``BaseDataPreprocessor``'s flag).
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 non_blocking: bool = False):
        super().__init__(non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 (RGB) values, got {list(mean)} and {list(std)}')
        # Not saved in checkpoints: they are settings, and checkpoints from before this stage had none.
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(3, 1, 1), persistent=False)

    def forward(self, data: Dict[str, Any], training: bool = False) -> Dict[str, Any]:
        """Batch ``data`` (see the class docstring); ``training`` changes nothing."""
        if 'inputs' not in data:
            return self.cast_data(data)
        inputs = self.cast_data(self._stack(data['inputs']))
        return dict(inputs=(inputs.float() / 255 - self.mean) / self.std,
                    data_samples=self.cast_data(data.get('data_samples')))

    @staticmethod
    def _stack(clips: Any) -> Tensor:
        """(B, T, 3, H, W) from B clips (T, 3, H, W), or the already stacked tensor."""
        if isinstance(clips, Tensor):
            stacked = clips
        else:
            shapes = sorted({tuple(clip.shape) for clip in clips})
            if len(shapes) > 1:
                raise ValueError(f'the clips of one batch differ in shape {shapes}: give the datasets of one '
                                 'run the same num_frames and crop_size')
            stacked = torch.stack(list(clips))
        if stacked.dim() != 5 or stacked.shape[2] != 3:
            raise ValueError(f'inputs must be clips (B, T, 3, H, W), got {tuple(stacked.shape)}')
        return stacked
