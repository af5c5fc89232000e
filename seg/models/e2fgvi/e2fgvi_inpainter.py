"""E2FGVI / E2FGVI-HQ inference on one window, as the official test script runs the generator."""
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmdet.utils import ConfigType
from torch import Tensor

from seg.fileio.checkpoint import load_local_checkpoint
from seg.registry import MODELS

from seg.models.inpainters.padding import mirror_pad_to_multiple
from seg.models.utils.inpainting_windows import check_window_inputs

#: Prefixes stripped from checkpoint keys: a training model's generator attribute, then DataParallel's.
GENERATOR_PREFIX = 'generator.'
DATA_PARALLEL_PREFIX = 'module.'


def generator_state_dict(checkpoint: Dict) -> Dict[str, Tensor]:
    """The generator's weights from an official or mmengine checkpoint.

    Accepts a plain state_dict (the released ``E2FGVI-CVPR22.pth`` /
    ``E2FGVI-HQ-CVPR22.pth``), or an mmengine checkpoint whose ``state_dict`` holds
    either the generator alone or a whole training model; in that case only the
    ``generator.*`` entries are kept (the discriminator and losses are dropped).
    ``module.`` prefixes (DataParallel) are removed.

    Args:
        checkpoint: the unpickled checkpoint file.

    Returns:
        dict: parameter name → tensor, named as in the generator's own ``state_dict()``.
    """
    if not isinstance(checkpoint, dict):
        raise ValueError(f'a checkpoint must be a dict (a state_dict, or mmengine\'s with a "state_dict" '
                         f'entry), got {type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    state = OrderedDict((k[len(DATA_PARALLEL_PREFIX):] if k.startswith(DATA_PARALLEL_PREFIX) else k, v)
                        for k, v in state.items())
    if any(k.startswith(GENERATOR_PREFIX) for k in state):
        state = OrderedDict((k[len(GENERATOR_PREFIX):], v) for k, v in state.items()
                            if k.startswith(GENERATOR_PREFIX))
    return state


@MODELS.register_module()
class E2FGVIInpainter(nn.Module):
    """Complete one window of frames with an E2FGVI generator, following the official ``test.py``.

    Steps of :meth:`inpaint_window`: frames to [-1, 1], holes zeroed
    (``frames * (1 - mask)``); the non-HQ generator (``fixed_size`` (240, 432))
    requires exactly that size (``seg.apis.inpaint`` resizes to it), the HQ one
    gets the clip mirror-padded to its ``size_divisor`` (60, 108) and the output
    cropped back; then ``(pred + 1) / 2`` and known pixels composited back in.

    Args:
        generator: config of the generator (``E2FGVIGenerator`` or ``E2FGVIHQGenerator``).
        checkpoint: local checkpoint loaded strictly into the generator (see
            :func:`generator_state_dict` for the accepted layouts); None keeps
            the generator's initialisation.
    """

    def __init__(self, generator: ConfigType, checkpoint: Optional[str] = None):
        super().__init__()
        self.generator = MODELS.build(generator)
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)

    @property
    def fixed_size(self) -> Optional[Tuple[int, int]]:
        """(H, W) px the generator only works at (non-HQ E2FGVI), or None when it takes any size."""
        size = getattr(self.generator, 'fixed_size', None)
        return None if size is None else tuple(size)

    def load_checkpoint(self, path: str) -> None:
        """Load the generator's weights from the local file ``path``, strictly (missing or extra keys raise)."""
        self.generator.load_state_dict(generator_state_dict(load_local_checkpoint(path, map_location='cpu')),
                                       strict=True)

    def inpaint_window(self, frames: Tensor, masks: Tensor, num_local_frames: int) -> Tensor:
        """Complete the local frames of one window.

        Args:
            frames: (T, 3, H, W) RGB in [0, 1]; the first ``num_local_frames`` are
                consecutive local frames, the rest reference frames.
            masks: (T, 1, H, W) 0/1, 1 = hole.
            num_local_frames: number of local frames, 1 <= n <= T.

        Returns:
            Tensor: (n, 3, H, W) in [0, 1]; holes from the generator, known pixels the input's.
        """
        check_window_inputs(frames, masks, num_local_frames)
        height, width = frames.shape[-2:]
        if self.fixed_size is not None and (height, width) != self.fixed_size:
            raise ValueError(f'{type(self.generator).__name__} only works at {self.fixed_size[0]}x'
                             f'{self.fixed_size[1]} (HxW), got {height}x{width}; resize the frames first '
                             '(seg.apis.inpaint does)')
        masks = masks.to(frames.dtype)
        masked = ((frames * 2 - 1) * (1 - masks))[None]
        if self.fixed_size is None:
            masked = mirror_pad_to_multiple(masked, tuple(self.generator.size_divisor))
        with torch.no_grad():
            pred, _ = self.generator(masked, num_local_frames)
        pred = ((pred[:num_local_frames, :, :height, :width].to(frames.dtype) + 1) / 2).clamp(0, 1)
        local_masks = masks[:num_local_frames]
        return pred * local_masks + frames[:num_local_frames] * (1 - local_masks)
