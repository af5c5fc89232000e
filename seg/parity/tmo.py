"""Parity runner for ``tmo`` fixtures: soft scores of a batch, then adaptive output selection at batch 1.

``TMO(aos=False).eval()(imgs, flows)['scores']``, then, with AOS on,
``(aos_imgs, aos_flows)['masks']``; shapes come from the inputs.
"""
from typing import Dict, Mapping

import torch
from torch import Tensor

from seg.models.tmo import TMO
from seg.registry import PARITY_RUNNERS

from .fixture import fixture_state_dict


@PARITY_RUNNERS.register_module('tmo')
def run_tmo(fixture: Mapping) -> Dict[str, Tensor]:
    """Returns ``scores`` (B, L, 2, H, W) logits and ``aos_masks`` (1, L', 1, H', W') int64."""
    inputs = {k: v.float() if isinstance(v, Tensor) and v.dtype == torch.float16 else v
              for k, v in fixture['inputs'].items()}
    model = TMO(aos=False).eval()
    model.load_state_dict(fixture_state_dict(fixture), strict=True)
    out = {}
    with torch.no_grad():
        if 'imgs' in inputs:
            out['scores'] = model(inputs['imgs'], inputs['flows'])['scores']
        if 'aos_imgs' in inputs:
            model.aos = True
            out['aos_masks'] = model(inputs['aos_imgs'], inputs['aos_flows'])['masks']
    return out
