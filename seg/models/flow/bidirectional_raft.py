"""Forward and backward RAFT flows between consecutive frames of clips of any size (ProPainter's ``RAFT_bi``)."""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType
from torch import Tensor

from seg.registry import MODELS

from .raft import MIN_SIDE
from .raft_encoders import ENCODER_STRIDE


@MODELS.register_module()
class BidirectionalRAFT(nn.Module):
    """RAFT flows i -> i+1 and i+1 -> i for every pair of consecutive frames.

    Size handling: RAFT needs sides that are multiples of 8 and at least 128.
    A clip whose shorter side is below 128 is first resized up (bilinear,
    aspect ratio kept, the shorter side to 128; more resolution on the 1/8 flow
    grid than padding would give), and the flow is resized back (bilinear) with
    its x and y components multiplied by W/W' and H/H'. Sides that are then not
    multiples of 8 are padded at the bottom/right by edge replication, and the
    flow is cropped (no resampling, so clips that only need padding get RAFT's
    flow unchanged on their own pixels). Valid sizes pass through untouched.

    The directed image pairs (all forward pairs, then all backward pairs) go
    through RAFT ``chunk_size`` at a time; RAFT's correlation volume takes
    (H/8 · W/8)² floats per pair (about 10 MB at 432x240, 830 MB at 1280x720).
    Gradients are not blocked and the RAFT's train/eval mode is kept: a frozen
    flow estimator is the caller's ``no_grad`` and ``eval()``.

    Args:
        raft (dict | nn.Module): a :class:`~seg.models.flow.RAFT` or its config.
        iters (int): RAFT refinement iterations (ProPainter uses 20).
        chunk_size (int, optional): image pairs per RAFT call; None runs all at once.
    """

    def __init__(self, raft: Union[ConfigType, nn.Module] = dict(type='RAFT'), iters: int = 20,
                 chunk_size: Optional[int] = 8) -> None:
        super().__init__()
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f'chunk_size must be a positive number of image pairs or None, got {chunk_size}')
        self.raft = raft if isinstance(raft, nn.Module) else MODELS.build(raft)
        self.iters = iters
        self.chunk_size = chunk_size

    @staticmethod
    def processing_size(height: int, width: int) -> Tuple[int, int, int, int]:
        """Where a (height, width) clip runs: ``(resized_h, resized_w, padded_h, padded_w)``."""
        shorter = min(height, width)
        if shorter < MIN_SIDE:
            height, width = -(-height * MIN_SIDE // shorter), -(-width * MIN_SIDE // shorter)
        return (height, width, ENCODER_STRIDE * math.ceil(height / ENCODER_STRIDE),
                ENCODER_STRIDE * math.ceil(width / ENCODER_STRIDE))

    def forward(self, frames: Tensor) -> Tuple[Tensor, Tensor]:
        """Flows between consecutive frames.

        Args:
            frames (Tensor): (B, T, 3, H, W) RGB in [-1, 1], T >= 2, any H and W.

        Returns:
            tuple: ``(flows_forward, flows_backward)``, each (B, T-1, 2, H, W) in
            pixels of the input, channel 0 = x, 1 = y. ``flows_forward[:, i]`` maps
            frame i to frame i+1 (on frame i's grid), ``flows_backward[:, i]``
            frame i+1 to frame i (on frame i+1's grid).
        """
        if frames.dim() != 5 or frames.shape[2] != 3 or frames.shape[1] < 2:
            raise ValueError(f'BidirectionalRAFT needs frames (B, T, 3, H, W) with T >= 2, got {tuple(frames.shape)}')
        batch, length, _, height, width = frames.shape
        resized_h, resized_w, padded_h, padded_w = self.processing_size(height, width)
        images = frames.flatten(0, 1)
        if (resized_h, resized_w) != (height, width):
            images = F.interpolate(images, size=(resized_h, resized_w), mode='bilinear', align_corners=False)
        if (padded_h, padded_w) != (resized_h, resized_w):
            images = F.pad(images, (0, padded_w - resized_w, 0, padded_h - resized_h), mode='replicate')
        images = images.view(batch, length, 3, padded_h, padded_w)
        earlier, later = images[:, :-1].flatten(0, 1), images[:, 1:].flatten(0, 1)
        sources, targets = torch.cat([earlier, later]), torch.cat([later, earlier])
        step = sources.shape[0] if self.chunk_size is None else self.chunk_size
        flows = torch.cat([self.raft(sources[start:start + step], targets[start:start + step], iters=self.iters,
                                     test_mode=True)[1] for start in range(0, sources.shape[0], step)])
        flows = flows[..., :resized_h, :resized_w]
        if (resized_h, resized_w) != (height, width):
            flows = F.interpolate(flows, size=(height, width), mode='bilinear', align_corners=False)
            flows = torch.cat([flows[:, :1] * (width / resized_w), flows[:, 1:] * (height / resized_h)], dim=1)
        flows = flows.view(2, batch, length - 1, 2, height, width)
        return flows[0], flows[1]
