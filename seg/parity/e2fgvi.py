"""Parity runners for ``e2fgvi`` and ``e2fgvi_hq`` fixtures: the official ``InpaintGenerator`` s.

The official entry point is
``pred_img, (flow_forward, flow_backward) = InpaintGenerator().eval()(masked_frames.float(), num_local_frames)``
under ``no_grad``; the frame size comes from ``masked_frames``, the local-frame
count from the inputs (or ``meta``), so hidden variants with other T / l_t run
unchanged.
"""
from typing import Dict, Mapping, Type

import torch
from torch import Tensor

from seg.models.e2fgvi.e2fgvi_generator import E2FGVIGenerator, E2FGVIGeneratorBase
from seg.models.e2fgvi.e2fgvi_hq_generator import E2FGVIHQGenerator
from seg.registry import PARITY_RUNNERS

from .fixture import fixture_state_dict


def _as_float32(value):
    """Cast float16 fixture inputs to float32 (see FIXTURES.md); leave everything else."""
    if isinstance(value, Tensor) and value.dtype == torch.float16:
        return value.float()
    return value


def _run_generator(fixture: Mapping, generator_cls: Type[E2FGVIGeneratorBase]) -> Dict[str, Tensor]:
    """Build ``generator_cls``, load the fixture weights strictly and run the official entry point."""
    inputs = {name: _as_float32(value) for name, value in fixture['inputs'].items()}
    meta = fixture.get('meta', {})
    num_local_frames = int(inputs.get('num_local_frames', meta.get('num_local_frames')))
    generator = generator_cls(init_weights=False).eval()
    generator.load_state_dict(fixture_state_dict(fixture), strict=True)
    with torch.no_grad():
        pred_img, (flow_forward, flow_backward) = generator(inputs['masked_frames'], num_local_frames)
    return dict(pred_img=pred_img, flow_forward=flow_forward, flow_backward=flow_backward)


@PARITY_RUNNERS.register_module('e2fgvi')
def run_e2fgvi(fixture: Mapping) -> Dict[str, Tensor]:
    """Run :class:`E2FGVIGenerator` like the official E2FGVI fixture entry.

    Returns:
        dict: ``pred_img`` (B*T, 3, H, W) in [-1, 1], ``flow_forward`` and
        ``flow_backward`` (B, l_t-1, 2, H/4, W/4) in pixels.
    """
    return _run_generator(fixture, E2FGVIGenerator)


@PARITY_RUNNERS.register_module('e2fgvi_hq')
def run_e2fgvi_hq(fixture: Mapping) -> Dict[str, Tensor]:
    """Run :class:`E2FGVIHQGenerator` like the official E2FGVI-HQ fixture entry (on the padded clip).

    Returns:
        dict: as :func:`run_e2fgvi`, uncropped.
    """
    return _run_generator(fixture, E2FGVIHQGenerator)
