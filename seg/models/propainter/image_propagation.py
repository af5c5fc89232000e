"""ProPainter's parameter-free pixel propagation along completed flows (its "dual-domain" image half)."""
from typing import List, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from seg.models.flow.flow_warp import flow_warp
from seg.registry import MODELS
from .flow_consistency import binarise, flow_consistency_mask

# A bilinearly warped hole mask counts as hole above this value.
MASK_THRESHOLD = 0.1


@MODELS.register_module()
class ImagePropagation(nn.Module):
    """Fill hole pixels with pixels that the flows carry in from neighbouring frames, first backward then forward.

    Backward pass (frames T-1 ... 0): the running result of frame i+1 is warped onto
    frame i with the forward flow i -> i+1. Forward pass (0 ... T-1), starting from
    the backward pass's frames and masks: the running result of frame i-1 is warped
    onto frame i with the backward flow i -> i-1. At each step a hole pixel of the
    current frame takes the warped pixel when the flow pair is consistent there
    (:func:`flow_consistency_mask`) and the warped pixel was not itself a hole
    (the running mask warped bilinearly, ``> 0.1``); the mask loses those pixels.
    No parameters, so no state_dict entries.
    """

    def forward(self, frames: Tensor, flows_forward: Tensor, flows_backward: Tensor, masks: Tensor,
                interpolation: str = 'nearest') -> Tuple[Tensor, Tensor]:
        """Propagate pixels into the holes.

        Args:
            frames (Tensor): (B, T, C, H, W) masked frames (0 in the holes).
            flows_forward (Tensor): (B, T-1, 2, H, W) flows i -> i+1 on frame i's grid, pixels (x, y).
            flows_backward (Tensor): (B, T-1, 2, H, W) flows i+1 -> i on frame i+1's grid.
            masks (Tensor): (B, T, 1, H, W) 0/1 holes (1 = hole).
            interpolation (str): how frames are warped, ``'nearest'`` (official inference) or ``'bilinear'``.

        Returns:
            tuple[Tensor, Tensor]: ``frames`` (B, T, C, H, W) with the reachable hole
            pixels filled (the rest unchanged) and ``masks`` (B, T, 1, H, W) 0/1, 1 =
            still a hole.
        """
        t = frames.shape[1]
        expected = (frames.shape[0], t - 1, 2, *frames.shape[-2:])
        for name, flows in (('flows_forward', flows_forward), ('flows_backward', flows_backward)):
            if tuple(flows.shape) != expected:
                raise ValueError(f'{name} must be {expected} for frames {tuple(frames.shape)}; '
                                 f'got {tuple(flows.shape)}')
        frame_list, mask_list = list(frames.unbind(1)), list(masks.unbind(1))
        frame_list, mask_list = self._pass(frame_list, mask_list, flows_forward, flows_backward, interpolation,
                                           backward=True)
        frame_list, mask_list = self._pass(frame_list, mask_list, flows_backward, flows_forward, interpolation,
                                           backward=False)
        return torch.stack(frame_list, dim=1), torch.stack(mask_list, dim=1)

    @staticmethod
    def _pass(frames: List[Tensor], masks: List[Tensor], flows: Tensor, reverse_flows: Tensor, interpolation: str,
              backward: bool) -> Tuple[List[Tensor], List[Tensor]]:
        """One pass over time; ``flows[:, k]`` links frame k (backward) or k+1 (forward) to the previous frame."""
        t = len(frames)
        order = range(t - 1, -1, -1) if backward else range(t)
        out_frames, out_masks = [None] * t, [None] * t
        previous = None
        for idx in order:
            frame, mask = frames[idx], masks[idx]
            if previous is not None:
                flow_index = idx if backward else idx - 1
                flow, reverse = flows[:, flow_index], reverse_flows[:, flow_index]
                valid = flow_consistency_mask(flow, reverse)
                grid = flow.permute(0, 2, 3, 1)
                warped = flow_warp(previous[0], grid, interpolation)
                source_hole = binarise(flow_warp(previous[1], grid), MASK_THRESHOLD)
                reachable = valid * (1 - source_hole)
                fill = binarise(mask * reachable, MASK_THRESHOLD)
                frame = fill * warped + (1 - fill) * frame
                mask = binarise(mask * (1 - reachable), MASK_THRESHOLD)
            out_frames[idx], out_masks[idx] = frame, mask
            previous = frame, mask
        return out_frames, out_masks
