"""Parity runner for ``sam_prompt_encoder`` fixtures: SAM's ``PromptEncoder`` on three prompt sets.

The official entry point builds ``PromptEncoder(embed_dim, image_embedding_size,
input_image_size, mask_in_chans)`` in eval mode and calls it with points only,
boxes only, and points + boxes + masks, then ``get_dense_pe()``.
"""
from typing import Dict, Mapping, Tuple

import torch
from torch import Tensor

from ext.sam import PromptEncoder
from ext.sam.prompt_encoder import MASK_TO_EMBEDDING_STRIDE
from seg.registry import PARITY_RUNNERS

from .fixture import fixture_state_dict

# SAM's ViT image encoder has stride 16 (1024-pixel input, 64x64 embedding): the input
# size a fixture implies when it names only the embedding size.
SAM_IMAGE_ENCODER_STRIDE = 16


def _manifest_shape(fixture: Mapping, name: str) -> Tuple[int, ...]:
    for entry in fixture['manifest']:
        if entry['name'] == name:
            return tuple(entry['shape'])
    raise KeyError(f'sam_prompt_encoder fixture has no manifest entry {name!r}')


def prompt_encoder_config(fixture: Mapping) -> Dict:
    """``PromptEncoder`` arguments for ``fixture``.

    Each comes from ``meta['config']``, else from ``meta`` itself, else is derived:
    ``embed_dim`` and ``mask_in_chans`` from the manifest's weight shapes,
    ``image_embedding_size`` as the mask input's (H, W) / 4, ``input_image_size``
    as 16 x ``image_embedding_size`` (SAM's image-encoder stride).
    """
    meta = fixture.get('meta', {})
    given = {**meta, **meta.get('config', {})}
    inputs = fixture['inputs']
    config = {}
    config['embed_dim'] = int(given.get('embed_dim', _manifest_shape(fixture, 'no_mask_embed.weight')[-1]))
    config['mask_in_chans'] = int(given.get('mask_in_chans', _manifest_shape(fixture, 'mask_downscaling.3.weight')[0]))
    if 'image_embedding_size' in given:
        embedding_size = tuple(int(s) for s in given['image_embedding_size'])
    elif inputs.get('masks') is not None:
        embedding_size = tuple(int(s) // MASK_TO_EMBEDDING_STRIDE for s in inputs['masks'].shape[-2:])
    else:
        raise KeyError('sam_prompt_encoder fixture gives neither image_embedding_size nor a mask input')
    config['image_embedding_size'] = embedding_size
    config['input_image_size'] = tuple(
        int(s) for s in given.get('input_image_size', [SAM_IMAGE_ENCODER_STRIDE * s for s in embedding_size]))
    return config


def _as_float32(value):
    """Cast float16 fixture inputs to float32 (see FIXTURES.md); leave everything else."""
    if isinstance(value, Tensor) and value.dtype == torch.float16:
        return value.float()
    return value


@PARITY_RUNNERS.register_module('sam_prompt_encoder')
def run_sam_prompt_encoder(fixture: Mapping) -> Dict[str, Tensor]:
    """Run our ``PromptEncoder`` the way the official fixture entry did.

    Returns:
        dict: ``points_*`` (points only), ``boxes_*`` (boxes only) and ``all_*``
        (points, boxes, masks) as ``*_sparse`` (B, N', C) and ``*_dense``
        (B, C, h, w), plus ``dense_pe`` (1, C, h, w). A prompt set is skipped when
        the fixture lacks one of its inputs.
    """
    inputs = {name: _as_float32(value) for name, value in fixture['inputs'].items()}
    encoder = PromptEncoder(**prompt_encoder_config(fixture)).eval()
    encoder.load_state_dict(fixture_state_dict(fixture), strict=True)

    points = None
    if inputs.get('point_coords') is not None and inputs.get('point_labels') is not None:
        points = (inputs['point_coords'], inputs['point_labels'])
    boxes, masks = inputs.get('boxes'), inputs.get('masks')
    prompt_sets = {'points': dict(points=points), 'boxes': dict(boxes=boxes),
                   'all': dict(points=points, boxes=boxes, masks=masks)}
    outputs = {}
    with torch.no_grad():
        for name, prompts in prompt_sets.items():
            if any(value is None for value in prompts.values()):
                continue
            outputs[f'{name}_sparse'], outputs[f'{name}_dense'] = encoder(**prompts)
        outputs['dense_pe'] = encoder.get_dense_pe()
    return outputs
