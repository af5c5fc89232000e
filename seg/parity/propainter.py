"""Parity runners for ``propainter_eval`` and ``propainter_train``: the official ProPainter ``InpaintGenerator``.

Every setting (frame count, local-frame count, size, gradient names and scales)
is read from the fixture, so hidden variants run unchanged.
"""
from typing import Dict, Mapping

import torch
from torch import Tensor

from seg.models.propainter.propainter_generator import ProPainterGenerator
from seg.registry import PARITY_RUNNERS

from .fixture import fixture_state_dict

GRAD_PREFIX = 'grad.'


def _generator(fixture: Mapping) -> ProPainterGenerator:
    """A generator with the fixture's weights, loaded strictly."""
    generator = ProPainterGenerator(init_weights=False)
    generator.load_state_dict(fixture_state_dict(fixture), strict=True)
    return generator


def _num_local_frames(fixture: Mapping) -> int:
    return int(fixture['inputs'].get('num_local_frames', fixture.get('meta', {}).get('num_local_frames')))


@PARITY_RUNNERS.register_module('propainter_eval')
def run_propainter_eval(fixture: Mapping) -> Dict[str, Tensor]:
    """Pixel propagation ('nearest') over all frames, then the generator on the stored composite, in eval mode.

    Returns:
        dict: ``prop_frames`` (B, T, 3, H, W), ``prop_masks`` (B, T, 1, H, W) and
        ``pred_img`` (B, L, 3, H, W) in [-1, 1].
    """
    inputs = fixture['inputs']
    num_local = _num_local_frames(fixture)
    generator = _generator(fixture).eval()
    flows = inputs['flows_forward'], inputs['flows_backward']
    with torch.no_grad():
        prop_frames, prop_masks = generator.img_propagation(inputs['masked_frames'], flows, inputs['masks'],
                                                            'nearest')
        local_flows = tuple(f[:, :num_local - 1] for f in flows)
        pred_img = generator(inputs['gen_frames'], local_flows, inputs['masks'], inputs['gen_masks_updated'],
                             num_local)
    return dict(prop_frames=prop_frames, prop_masks=prop_masks, pred_img=pred_img)


@PARITY_RUNNERS.register_module('propainter_train')
def run_propainter_train(fixture: Mapping) -> Dict[str, Tensor]:
    """The generator in train mode and the gradients of ``sum(pred_img * grad_weight)``.

    Returns:
        dict: ``pred_img`` (B, T, 3, H, W) and ``grad.<name>`` for every name in
        ``inputs['grad_scale']``, each gradient times its scale.
    """
    inputs = fixture['inputs']
    generator = _generator(fixture).train()
    generator.zero_grad(set_to_none=True)
    pred_img = generator(inputs['frames'], (inputs['flows_forward'], inputs['flows_backward']), inputs['masks_in'],
                         inputs['masks_updated'], _num_local_frames(fixture))
    (pred_img * inputs['grad_weight']).sum().backward()
    params = dict(generator.named_parameters())
    outputs = dict(pred_img=pred_img.detach())
    for name, scale in inputs['grad_scale'].items():
        outputs[GRAD_PREFIX + name] = params[name].grad * scale
    return outputs
