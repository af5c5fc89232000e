"""Parity runner for ``xmem_network`` fixtures: the XMem network call by call, as in training.

The sequence (FIXTURES.md): keys of the whole clip; values of frame 0; for every
later frame t, read the memory of frames < t, segment, and (except for the last
frame) encode its values with ``is_deep_update=False``. At the last frame the
similarity, the plain and the top-k affinities and both readouts are reported.
Clip length, batch, objects, sizes and ``top_k`` come from the fixture.
"""
from typing import Dict, Mapping

import torch
from torch import Tensor

from seg.models.xmem import XMem
from seg.models.xmem.memory_util import do_softmax, get_similarity, readout
from seg.registry import PARITY_RUNNERS

from .fixture import fixture_state_dict


@PARITY_RUNNERS.register_module('xmem_network')
def run_xmem_network(fixture: Mapping) -> Dict[str, Tensor]:
    """Run our :class:`XMem` through the fixture's training-style sequence.

    Returns:
        dict keyed like the fixture: ``encode_key.*``, ``encode_value.t{i}.*``,
        ``read_memory.t{i}.*`` and ``segment.t{i}.*``.
    """
    inputs = fixture['inputs']
    config = fixture.get('meta', {}).get('config', {})
    state_dict = fixture_state_dict(fixture)
    net = XMem.from_state_dict(state_dict, single_object=bool(config.get('single_object', False)))
    net.eval()
    frames, masks0, hidden = inputs['frames'], inputs['masks0'], inputs['hidden0']
    selector = inputs['selector'][:, :, None, None]
    top_k = int(inputs['top_k'])
    num_frames = frames.shape[1]
    out = {}
    with torch.no_grad():
        key, shrinkage, selection, f16, f8, f4 = net.encode_key(frames)
        for name, value in zip(('key', 'shrinkage', 'selection', 'f16', 'f8', 'f4'),
                               (key, shrinkage, selection, f16, f8, f4)):
            out[f'encode_key.{name}'] = value
        value, hidden = net.encode_value(frames[:, 0], f16[:, 0], hidden, masks0, is_deep_update=True)
        out['encode_value.t0.value'], out['encode_value.t0.hidden'] = value, hidden
        values = value.unsqueeze(3)
        for t in range(1, num_frames):
            last = t == num_frames - 1
            mem_key, mem_shrinkage = key[:, :, :t], shrinkage[:, :, :t]
            similarity = get_similarity(mem_key, mem_shrinkage, key[:, :, t], selection[:, :, t])
            affinity = do_softmax(similarity)
            out[f'read_memory.t{t}.affinity'] = affinity
            if last and t > 1:
                out[f'read_memory.t{t}.similarity'] = similarity
                topk = do_softmax(similarity, top_k=top_k)
                out[f'read_memory.t{t}.affinity_topk'] = topk
                flat = readout(topk, values.flatten(1, 2))
                out[f'read_memory.t{t}.readout_topk'] = flat.view(*values.shape[:3], *flat.shape[-2:])
            readout_t = net.read_memory(key[:, :, t], selection[:, :, t], mem_key, mem_shrinkage, values)
            out[f'read_memory.t{t}.readout'] = readout_t
            new_hidden, logits, prob = net.segment((f16[:, t], f8[:, t], f4[:, t]), readout_t, hidden, selector,
                                                   h_out=not last)
            if not last:
                out[f'segment.t{t}.hidden'] = new_hidden
                hidden = new_hidden
            out[f'segment.t{t}.logits'], out[f'segment.t{t}.prob'] = logits, prob
            if not last:
                value, hidden = net.encode_value(frames[:, t], f16[:, t], hidden, prob, is_deep_update=False)
                out[f'encode_value.t{t}.value'] = value
                values = torch.cat([values, value.unsqueeze(3)], dim=3)
    return {k: v for k, v in out.items() if k in fixture['outputs']}
