"""Bidirectional second-order feature propagation without flows (the flow completion network's ``feat_prop_module``)."""
from typing import List

import torch
import torch.nn as nn
from torch import Tensor

from .unguided_second_order_alignment import UnguidedSecondOrderAlignment

# The two passes, in the order they run; also the official state_dict names.
BACKWARD, FORWARD = 'backward_', 'forward_'
ALIGNMENT_DEFORM_GROUPS = 16
ALIGNMENT_MAX_RESIDUE = 5.0


class UnguidedDeformPropagation(nn.Module):
    """Propagate features through time in both directions with flow-free deformable alignment.

    A backward pass (last frame to first) and then a forward pass (first to last)
    each carry a running feature. At every step after the first, the running
    features of the two previous steps (zeros for the one before the start) are
    aligned to the current frame by :class:`UnguidedSecondOrderAlignment`, which
    predicts its offsets from those features and the current frame's (the
    features being completed are themselves flows, so there is no flow to guide
    it). The aligned feature is then refined residually from the current frame's
    features, the earlier pass's result for the frame (forward pass only) and
    itself. A 1x1 fusion of both passes is added to the input.

    This is E2FGVI's :class:`~seg.models.e2fgvi.SecondOrderDeformPropagation`
    without the flow warps and flow-guided offsets (and so without its flow
    indexing quirk). Attribute names follow the official state_dict
    (``deform_align.{backward_,forward_}``, ``backbone.{backward_,forward_}``, ``fusion``).

    Args:
        channels (int): feature channels C.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for index, direction in enumerate((BACKWARD, FORWARD)):
            self.deform_align[direction] = UnguidedSecondOrderAlignment(
                2 * channels, channels, deform_groups=ALIGNMENT_DEFORM_GROUPS,
                max_residue_magnitude=ALIGNMENT_MAX_RESIDUE)
            # Inputs: current features, results of the earlier passes, the running feature.
            self.backbone[direction] = nn.Sequential(
                nn.Conv2d((2 + index) * channels, channels, 3, padding=1),
                nn.LeakyReLU(negative_slope=0.1),
                nn.Conv2d(channels, channels, 3, padding=1),
            )
        self.fusion = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, feats: Tensor) -> Tensor:
        """Propagate ``feats`` over its T consecutive steps.

        Args:
            feats (Tensor): (B, T, C, H, W) features.

        Returns:
            Tensor: (B, T, C, H, W) propagated features (input plus the fused passes).
        """
        t = feats.size(1)
        spatial = [feats[:, i] for i in range(t)]
        backward = self._propagate(spatial, BACKWARD, earlier=[])
        forward = self._propagate(spatial, FORWARD, earlier=[backward])
        fused = [self.fusion(torch.cat([backward[i], forward[i]], dim=1)) for i in range(t)]
        return torch.stack(fused, dim=1) + feats

    def _propagate(self, spatial: List[Tensor], direction: str, earlier: List[List[Tensor]]) -> List[Tensor]:
        """One pass over the steps; returns the propagated features in time order.

        Args:
            spatial (list[Tensor]): T tensors (B, C, H, W), the input features.
            direction (str): ``'backward_'`` (steps T-1 ... 0) or ``'forward_'`` (0 ... T-1).
            earlier (list[list[Tensor]]): results of earlier passes, each in time order.
        """
        t = len(spatial)
        order = range(t - 1, -1, -1) if direction == BACKWARD else range(t)
        propagated: List[Tensor] = []
        feat_prop = spatial[0].new_zeros(spatial[0].shape)
        for step, index in enumerate(order):
            current = spatial[index]
            if step > 0:
                feat_n2 = propagated[-2] if step > 1 else torch.zeros_like(feat_prop)
                feat_prop = self.deform_align[direction](torch.cat([feat_prop, feat_n2], dim=1),
                                                         torch.cat([feat_prop, current, feat_n2], dim=1))
            refine_input = torch.cat([current] + [result[index] for result in earlier] + [feat_prop], dim=1)
            feat_prop = feat_prop + self.backbone[direction](refine_input)
            propagated.append(feat_prop)
        return propagated[::-1] if direction == BACKWARD else propagated
