"""ProPainter's learnable feature propagation: flow-guided first-order deformable alignment, both directions."""
import math
from typing import List

import torch
import torch.nn as nn
from torch import Tensor
from torchvision.ops import deform_conv2d

from seg.models.flow.flow_warp import flow_warp
from seg.registry import MODELS
from .flow_consistency import flow_consistency_mask

# Offsets are MAX_RESIDUE * tanh(residual) pixels around the flow.
MAX_RESIDUE = 3.0
DEFORM_GROUPS = 16
KERNEL_POINTS = 9
OFFSET_SLOPE = 0.1
REFINE_SLOPE = 0.2
# The two hole masks each step sees: the original hole and the hole left after pixel propagation.
MASK_CHANNELS = 2
DIRECTIONS = ('backward_1', 'forward_1')


class FlowGuidedDeformableAlignment(nn.Module):
    """3x3 modulated deformable conv whose offsets are a bounded residual around the flow.

    The offset network sees cat(current, warped previous, flow, consistency mask,
    2 hole masks); its output splits into two offset halves (3*tanh, then the flow
    (y, x) added to every kernel point) and a sigmoid modulation mask. Attribute
    names follow the official state_dict (``weight``, ``bias``, ``conv_offset.<i>``).

    Args:
        channels (int): feature channels C (in and out).
        deform_groups (int): deformable groups.
    """

    def __init__(self, channels: int, deform_groups: int = DEFORM_GROUPS) -> None:
        super().__init__()
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(channels, channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(channels))
        bound = 1.0 / math.sqrt(channels * 9)
        nn.init.uniform_(self.weight, -bound, bound)
        cond_channels = 2 * channels + 2 + 1 + MASK_CHANNELS
        self.conv_offset = nn.Sequential(
            nn.Conv2d(cond_channels, channels, 3, padding=1), nn.LeakyReLU(OFFSET_SLOPE),
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(OFFSET_SLOPE),
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(OFFSET_SLOPE),
            nn.Conv2d(channels, 3 * KERNEL_POINTS * deform_groups, 3, padding=1))
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def forward(self, feat: Tensor, cond: Tensor, flow: Tensor) -> Tensor:
        """Align ``feat`` onto the current frame.

        Args:
            feat (Tensor): (N, C, H, W) features of the previous frame in the pass.
            cond (Tensor): (N, 2C+5, H, W) offset-network input.
            flow (Tensor): (N, 2, H, W) flow current -> previous, pixels (x, y).

        Returns:
            Tensor: (N, C, H, W) aligned features.
        """
        offset_x_y, modulation = self.conv_offset(cond).split(2 * KERNEL_POINTS * self.deform_groups, dim=1)
        offset = MAX_RESIDUE * torch.tanh(offset_x_y)
        # deform_conv2d reads (dy, dx) pairs per kernel point per group.
        offset = offset + flow.flip(1).repeat(1, offset.shape[1] // 2, 1, 1)
        # torchvision's CPU kernel has no bfloat16 / float16: it runs in float32 (as its CUDA autocast does).
        with torch.autocast(feat.device.type, enabled=False):
            aligned = deform_conv2d(feat.float(), offset.float(), self.weight.float(), self.bias.float(),
                                    padding=(1, 1), mask=torch.sigmoid(modulation.float()))
        return aligned.to(feat.dtype)


@MODELS.register_module()
class FlowGuidedDeformPropagation(nn.Module):
    """Propagate features backward then forward in time, each step aligned by :class:`FlowGuidedDeformableAlignment`.

    Backward pass (frames l-1 ... 0, on the input features) aligns frame i+1's
    running features with the forward flow i -> i+1; the forward pass (0 ... l-1, on
    the backward pass's features) aligns frame i-1's with the backward flow
    i -> i-1. After alignment a residual
    conv refines cat(current, aligned, 2 masks); the first frame of a pass is only
    refined. ``fuse`` mixes both passes and the masks, added to the input.
    Attribute names follow the official state_dict (``deform_align.<dir>``,
    ``backbone.<dir>``, ``fuse``).

    Args:
        channels (int): feature channels C.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.deform_align = nn.ModuleDict({name: FlowGuidedDeformableAlignment(channels) for name in DIRECTIONS})
        self.backbone = nn.ModuleDict({name: self._refine(channels) for name in DIRECTIONS})
        self.fuse = self._refine(channels)

    @staticmethod
    def _refine(channels: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(2 * channels + MASK_CHANNELS, channels, 3, padding=1),
                             nn.LeakyReLU(REFINE_SLOPE), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, feats: Tensor, flows_forward: Tensor, flows_backward: Tensor, masks: Tensor,
                interpolation: str = 'bilinear') -> Tensor:
        """Propagate.

        Args:
            feats (Tensor): (B, l, C, h, w) local-frame features.
            flows_forward (Tensor): (B, l-1, 2, h, w) flows i -> i+1 at feature resolution, pixels (x, y).
            flows_backward (Tensor): (B, l-1, 2, h, w) flows i+1 -> i.
            masks (Tensor): (B, l, 2, h, w) original and propagation-updated holes, 0/1.
            interpolation (str): how the previous features are warped for the offset network.

        Returns:
            Tensor: (B, l, C, h, w) propagated features.
        """
        b, t, c, h, w = feats.shape
        current = list(feats.unbind(1))
        mask_list = list(masks.unbind(1))
        backward = self._pass(current, mask_list, flows_forward, flows_backward, interpolation, DIRECTIONS[0])
        forward = self._pass(backward, mask_list, flows_backward, flows_forward, interpolation, DIRECTIONS[1])
        both = torch.cat([torch.stack(backward, 1).view(-1, c, h, w), torch.stack(forward, 1).view(-1, c, h, w),
                          masks.reshape(-1, MASK_CHANNELS, h, w)], dim=1)
        return (self.fuse(both) + feats.reshape(-1, c, h, w)).view(b, t, c, h, w)

    def _pass(self, feats: List[Tensor], masks: List[Tensor], flows: Tensor, reverse_flows: Tensor,
              interpolation: str, direction: str) -> List[Tensor]:
        """One pass over time on ``feats``; returns the running features in time order."""
        t = len(feats)
        is_backward = direction == DIRECTIONS[0]
        order = range(t - 1, -1, -1) if is_backward else range(t)
        out: List[Tensor] = [None] * t
        prop = None
        for step, idx in enumerate(order):
            current, mask = feats[idx], masks[idx]
            if step == 0:
                prop = current
            else:
                flow_index = idx if is_backward else idx - 1
                flow, reverse = flows[:, flow_index], reverse_flows[:, flow_index]
                valid = flow_consistency_mask(flow, reverse)
                warped = flow_warp(prop, flow.permute(0, 2, 3, 1), interpolation)
                cond = torch.cat([current, warped, flow, valid, mask], dim=1)
                prop = self.deform_align[direction](prop, cond, flow)
            prop = prop + self.backbone[direction](torch.cat([current, prop, mask], dim=1))
            out[idx] = prop
        return out
