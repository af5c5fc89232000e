"""Parity runner for ``raft`` fixtures: the official ``RAFT`` (ProPainter's copy) on one batch of image pairs.

The official entry is ``flow_low, flow_up = RAFT(args).eval()(image1, image2,
iters=iters, test_mode=True)`` under ``no_grad``. The layout (raft-things or
raft-small) is read from the fixture's manifest, the images, ``iters``,
``test_mode`` and an optional ``flow_init`` from its inputs, so hidden variants
with other sizes, pairs and iteration counts run unchanged.
"""
from typing import Dict, Mapping

import torch
from torch import Tensor

from seg.models.flow.raft import RAFT, raft_state_dict
from seg.registry import PARITY_RUNNERS

from .fixture import fixture_state_dict

#: A weight only raft-things has (its convex-upsampling head).
THINGS_ONLY_KEY = 'update_block.mask.0.weight'


def _as_float32(value):
    """Cast float16 fixture inputs to float32 (see FIXTURES.md); leave everything else."""
    if isinstance(value, Tensor) and value.dtype == torch.float16:
        return value.float()
    return value


@PARITY_RUNNERS.register_module('raft')
def run_raft(fixture: Mapping) -> Dict[str, Tensor]:
    """Run :class:`RAFT` like the official fixture entry, weights loaded strictly through :func:`raft_state_dict`.

    Returns:
        dict: with ``test_mode`` (the official fixtures), ``flow_low`` (N, 2, H/8, W/8)
        and ``flow_up`` (N, 2, H, W); otherwise ``flow_predictions``
        (iters, N, 2, H, W). Flows in pixels, image1 -> image2.
    """
    inputs = {name: _as_float32(value) for name, value in fixture['inputs'].items()}
    small = all(entry['name'] != THINGS_ONLY_KEY for entry in fixture['manifest'])
    model = RAFT(small=small).eval()
    model.load_state_dict(raft_state_dict(fixture_state_dict(fixture)), strict=True)
    test_mode = bool(inputs.get('test_mode', True))
    with torch.no_grad():
        result = model(inputs['image1'], inputs['image2'], iters=int(inputs['iters']),
                       flow_init=inputs.get('flow_init'), test_mode=test_mode)
    if test_mode:
        return dict(flow_low=result[0], flow_up=result[1])
    return dict(flow_predictions=torch.stack(result))
