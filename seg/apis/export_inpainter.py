"""Write a trained E2FGVI generator as the official release files are: a plain state_dict, official names."""
import io
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Union

import torch
from torch import Tensor

from seg.fileio.atomic import atomic_write_bytes
from seg.fileio.checkpoint import load_local_checkpoint
from seg.models.e2fgvi import E2FGVIGenerator, E2FGVIHQGenerator
from seg.models.e2fgvi.e2fgvi_inpainter import generator_state_dict

#: A key only each generator has: E2FGVI's learned SoftComp bias map, E2FGVI-HQ's bias conv.
GENERATOR_BY_KEY = {'sc.bias': E2FGVIGenerator, 'sc.bias_conv.weight': E2FGVIHQGenerator}


def export_generator_state(checkpoint: Dict) -> Dict[str, Tensor]:
    """The generator's state_dict from a ``VideoInpaintingGAN`` checkpoint, checked against the official layout.

    Args:
        checkpoint: an unpickled mmengine checkpoint (``state_dict`` with
            ``generator.*`` and ``discriminator.*``), or a bare generator state_dict.

    Returns:
        OrderedDict: official ``InpaintGenerator`` names -> CPU tensors, in the
        generator's own order; it loads strictly into ``E2FGVIGenerator`` or
        ``E2FGVIHQGenerator`` (and into the official networks).

    Raises:
        ValueError: no E2FGVI generator weights in the checkpoint, or they do
            not match either generator's layout.
    """
    state = generator_state_dict(checkpoint)
    kinds = [cls for key, cls in GENERATOR_BY_KEY.items() if key in state]
    if len(kinds) != 1:
        raise ValueError('no E2FGVI generator weights found: expected a VideoInpaintingGAN checkpoint (state_dict '
                         'with generator.* entries) or a bare E2FGVI / E2FGVI-HQ state_dict, got keys '
                         f'{list(state)[:5]}...')
    reference = kinds[0](init_weights=False)
    try:
        reference.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f'the generator weights do not match {kinds[0].__name__}\'s layout: {error}') from error
    return OrderedDict((name, state[name].detach().cpu()) for name in reference.state_dict())


def export_inpainter(checkpoint: Union[str, Path], out: Union[str, Path], trust: bool = False) -> Path:
    """Export the generator of a training checkpoint to ``out`` like ``E2FGVI-CVPR22.pth``.

    The file is a plain state_dict (official names, no ``generator.`` prefix,
    no discriminator, optimiser state or metadata) written atomically: ``out`` is
    either left as it was or replaced by the complete file.

    Args:
        checkpoint: a local ``VideoInpaintingGAN`` checkpoint (e.g.
            ``work_dirs/e2fgvi_hq_500k/iter_500000.pth``).
        out: the ``.pth`` file to write.
        trust: unpickle ``checkpoint`` fully (only for a file you trust; it can run code).

    Returns:
        Path: ``out``.
    """
    out = Path(out)
    if out.suffix not in ('.pth', '.pt'):
        raise ValueError(f'--out {out}: write the generator to a .pth (or .pt) file')
    state = export_generator_state(load_local_checkpoint(str(checkpoint), map_location='cpu', trust=trust))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(buffer.getvalue(), out)
    return out
