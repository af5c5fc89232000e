"""Bidirectional second-order deformable feature propagation (E2FGVI's ``feat_prop_module``)."""
from typing import List

import torch
import torch.nn as nn
from torch import Tensor

from seg.models.flow.flow_warp import flow_warp
from seg.registry import MODELS

from seg.models.layers.second_order_deformable_alignment import SecondOrderDeformableAlignment

# The two passes, in the order they run; also the official state_dict names.
BACKWARD, FORWARD = 'backward_', 'forward_'
ALIGNMENT_DEFORM_GROUPS = 16


def _as_grid(flow: Tensor) -> Tensor:
    """(N, 2, H, W) flow -> (N, H, W, 2), the layout :func:`flow_warp` takes."""
    return flow.permute(0, 2, 3, 1)


@MODELS.register_module()
class SecondOrderDeformPropagation(nn.Module):
    """Propagate features through time in both directions with second-order deformable alignment.

    A backward pass (last frame to first) and then a forward pass (first to last)
    each carry a running feature: at every frame the features propagated from the
    two previous steps are aligned by :class:`SecondOrderDeformableAlignment`
    (guided by the step's flow and the flow composed over two steps) and refined
    with the current frame's features (the forward pass also sees the backward
    pass's result for the frame). A 1x1 fusion of both passes is added to the input.

    Flow indexing follows the official E2FGVI, quirk included: at step ``s >= 1``
    of either pass the n-1 flow is ``flows[:, s - 1]`` and the n-2 flow
    ``flows[:, s - 2]``. In the forward pass this is the flow of the frame being
    processed; in the backward pass (frames ``T-1 ... 0``) it uses the flows in
    reversed time order, unlike BasicVSR++ (which reads the flow of the frame).
    The released weights were trained this way.

    Attribute names follow the official state_dict (``deform_align.{backward_,forward_}``,
    ``backbone.{backward_,forward_}``, ``fusion``).

    Args:
        channels (int): feature channels C.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for index, direction in enumerate((BACKWARD, FORWARD)):
            self.deform_align[direction] = SecondOrderDeformableAlignment(
                2 * channels, channels, 3, padding=1, deform_groups=ALIGNMENT_DEFORM_GROUPS)
            # Inputs: current features, results of the earlier passes, the running feature.
            self.backbone[direction] = nn.Sequential(
                nn.Conv2d((2 + index) * channels, channels, 3, padding=1),
                nn.LeakyReLU(negative_slope=0.1),
                nn.Conv2d(channels, channels, 3, padding=1),
            )
        self.fusion = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, feats: Tensor, flows_forward: Tensor, flows_backward: Tensor) -> Tensor:
        """Propagate ``feats`` over its T consecutive frames.

        Args:
            feats (Tensor): (B, T, C, H, W) features of consecutive frames.
            flows_forward (Tensor): (B, T-1, 2, H, W) flows i -> i+1 on frame i's grid,
                pixels, (x, y); they drive the backward-in-time pass (they warp
                frame i+1 onto frame i).
            flows_backward (Tensor): (B, T-1, 2, H, W) flows i+1 -> i on frame i+1's
                grid; they drive the forward-in-time pass.

        Returns:
            Tensor: (B, T, C, H, W) propagated features (input plus the fused passes).
        """
        b, t, c, h, w = feats.shape
        expected = (b, t - 1, 2, h, w)
        if tuple(flows_forward.shape) != expected or tuple(flows_backward.shape) != expected:
            raise ValueError(f'SecondOrderDeformPropagation needs flows of shape {expected} for features '
                             f'{tuple(feats.shape)}; got {tuple(flows_forward.shape)} and '
                             f'{tuple(flows_backward.shape)}')
        spatial = [feats[:, i] for i in range(t)]
        backward = self._propagate(spatial, flows_forward, BACKWARD, earlier=[])
        forward = self._propagate(spatial, flows_backward, FORWARD, earlier=[backward])
        fused = [self.fusion(torch.cat([backward[i], forward[i]], dim=1)) for i in range(t)]
        return torch.stack(fused, dim=1) + feats

    def _propagate(self, spatial: List[Tensor], flows: Tensor, direction: str,
                   earlier: List[List[Tensor]]) -> List[Tensor]:
        """One pass over the frames; returns the propagated features in time order.

        Args:
            spatial (list[Tensor]): T tensors (B, C, H, W), the input features.
            flows (Tensor): (B, T-1, 2, H, W) flows read at ``s - 1`` and ``s - 2`` by step ``s``.
            direction (str): ``'backward_'`` (frames T-1 ... 0) or ``'forward_'`` (0 ... T-1).
            earlier (list[list[Tensor]]): results of earlier passes, each in time order.
        """
        t = len(spatial)
        frame_order = range(t - 1, -1, -1) if direction == BACKWARD else range(t)
        propagated: List[Tensor] = []
        feat_prop = spatial[0].new_zeros(spatial[0].shape)
        for step, frame in enumerate(frame_order):
            current = spatial[frame]
            if step > 0:
                flow_n1 = flows[:, step - 1]
                cond_n1 = flow_warp(feat_prop, _as_grid(flow_n1))
                if step > 1:
                    feat_n2 = propagated[-2]
                    flow_n2 = flow_n1 + flow_warp(flows[:, step - 2], _as_grid(flow_n1))
                    cond_n2 = flow_warp(feat_n2, _as_grid(flow_n2))
                else:
                    feat_n2 = torch.zeros_like(feat_prop)
                    flow_n2 = torch.zeros_like(flow_n1)
                    cond_n2 = torch.zeros_like(cond_n1)
                feat_prop = self.deform_align[direction](torch.cat([feat_prop, feat_n2], dim=1),
                                                         torch.cat([cond_n1, current, cond_n2], dim=1),
                                                         flow_n1, flow_n2)
            refine_input = torch.cat([current] + [result[frame] for result in earlier] + [feat_prop], dim=1)
            feat_prop = feat_prop + self.backbone[direction](refine_input)
            propagated.append(feat_prop)
        return propagated[::-1] if direction == BACKWARD else propagated
