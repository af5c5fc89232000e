"""Parity runner for ``xmem_inference`` fixtures: the stateful XMem inference core over a clip.

Driven as the official ``eval.py`` drives ``InferenceCore``: on the i-th
annotated frame ``set_all_labels(all_labels[i])`` then ``step(frame, masks[i],
valid_labels[i])``, otherwise ``step(frame)``; ``end`` on the last frame. The
memory settings come from the fixture's config (any mem_every, deep-update mode,
mid-term frames, prototypes, long-term budget).
"""
from typing import Callable, Dict, Mapping, Optional

import torch
from torch import Tensor

from seg.models.xmem import XMem
from seg.models.xmem.inference import DEFAULT_INFERENCE_CONFIG, XMemInferenceCore
from seg.registry import PARITY_RUNNERS

from .fixture import fixture_state_dict


def drive_clip(core: XMemInferenceCore, inputs: Mapping, on_step: Optional[Callable[[int, Tensor], None]] = None
               ) -> Dict[str, Tensor]:
    """Feed a fixture-style clip to ``core`` (see the module docstring); ``on_step(t, prob)`` after each step.

    Returns:
        ``probs`` (T, 1 + N_total, H, W), channels of objects not yet given left 0, and
        ``num_objects`` (T,) int64, the objects each step returned.
    """
    frames = inputs['frames']
    num_frames = frames.shape[0]
    total = max(len(labels) for labels in inputs['all_labels'])
    probs = frames.new_zeros(num_frames, 1 + total, *frames.shape[-2:])
    counts = torch.zeros(num_frames, dtype=torch.int64)
    annotated = {t: i for i, t in enumerate(inputs['mask_frames'])}
    with torch.no_grad():
        for t in range(num_frames):
            end = t == num_frames - 1
            if t in annotated:
                i = annotated[t]
                core.set_all_labels(inputs['all_labels'][i])
                prob = core.step(frames[t], inputs['masks'][i], inputs['valid_labels'][i], end=end)
            else:
                prob = core.step(frames[t], end=end)
            probs[t, :prob.shape[0]] = prob
            counts[t] = prob.shape[0] - 1
            if on_step is not None:
                on_step(t, prob)
    return dict(probs=probs, num_objects=counts)


def build_core(fixture: Mapping) -> XMemInferenceCore:
    """Our network with the fixture weights (strict) inside a core with the fixture's memory settings."""
    config = dict(fixture['inputs'].get('config') or fixture['meta']['config'])
    state_dict = fixture_state_dict(fixture)
    net = XMem.from_state_dict(state_dict, single_object=bool(config.get('single_object', False)))
    return XMemInferenceCore(net.eval(), {k: v for k, v in config.items() if k in DEFAULT_INFERENCE_CONFIG})


@PARITY_RUNNERS.register_module('xmem_inference')
def run_xmem_inference(fixture: Mapping) -> Dict[str, Tensor]:
    """Run :class:`XMemInferenceCore` over the fixture clip; outputs as :func:`drive_clip`."""
    return drive_clip(build_core(fixture), fixture['inputs'])
