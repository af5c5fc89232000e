"""Parity runner for ``flow_complete`` fixtures: the official ``RecurrentFlowCompleteNet``.

The official entries, all under ``no_grad``: in eval mode
``pred, _ = model.forward_bidirect_flow((flows_forward, flows_backward), masks)`` and
``comb = model.combine_flow((flows_forward, flows_backward), pred, masks)``; then the
same ``forward_bidirect_flow`` call in train mode for the edge maps. Sizes and
frame counts come from the fixture's inputs.
"""
from typing import Dict, Mapping

import torch
from torch import Tensor

from seg.models.flow.recurrent_flow_complete_net import RecurrentFlowCompleteNet
from seg.registry import PARITY_RUNNERS

from .fixture import fixture_state_dict


def _as_float32(value):
    """Cast float16 fixture inputs to float32 (see FIXTURES.md); leave everything else."""
    if isinstance(value, Tensor) and value.dtype == torch.float16:
        return value.float()
    return value


@PARITY_RUNNERS.register_module('flow_complete')
def run_flow_complete(fixture: Mapping) -> Dict[str, Tensor]:
    """Run :class:`RecurrentFlowCompleteNet` like the official flow completion fixture entries.

    Returns:
        dict: ``pred_flows_{forward,backward}`` and ``comb_flows_{forward,backward}``
        (B, T-1, 2, H, W), pixels (eval mode); ``train.pred_edges_{forward,backward}``
        (B, T-1, 1, H, W) in (0, 1) (train mode, in input time order).
    """
    inputs = {name: _as_float32(value) for name, value in fixture['inputs'].items()}
    flows = (inputs['flows_forward'], inputs['flows_backward'])
    masks = inputs['masks']
    net = RecurrentFlowCompleteNet()
    net.load_state_dict(fixture_state_dict(fixture), strict=True)
    with torch.no_grad():
        pred, _ = net.eval().forward_bidirect_flow(flows, masks)
        comb = net.combine_flow(flows, pred, masks)
        _, edges = net.train().forward_bidirect_flow(flows, masks)
    return {'pred_flows_forward': pred[0], 'pred_flows_backward': pred[1],
            'comb_flows_forward': comb[0], 'comb_flows_backward': comb[1],
            'train.pred_edges_forward': edges[0], 'train.pred_edges_backward': edges[1]}
