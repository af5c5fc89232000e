"""OpenCLIP's text tower, built alone and loaded from a local weights file (nothing is downloaded).

Both users of a CLIP text tower go through :func:`build_openclip_text_tower`:
``tools/gen_cls.py`` (via :func:`~seg.models.utils.class_embedding.build_openclip_text_encoder`)
and the FastSAM2 ``TextEncoder``.  Only the text tower (an OpenCLIP
``TextTransformer``) is created: the image tower is never built, so it never
takes memory.  Its output for a batch of token ids is what
``CLIP.encode_text(tokens, normalize=False)`` returns: the pooled ``ln_final``
output (end-of-text token for CLIP) times ``text_projection``.

OpenCLIP itself (``pip install open_clip_torch``) is imported when a tower is
built, so importing this module does not need it.
"""
import difflib
import os
import pickle
from pathlib import Path
from typing import Callable, Dict, Tuple, Union

import torch
import torch.nn as nn

from seg.fileio.checkpoint import CheckpointMismatchError, load_local_checkpoint, model_state_dict

__all__ = ['import_open_clip', 'openclip_model_name', 'build_openclip_text_tower', 'load_text_tower_weights',
           'text_tower_embed_dim']

PathLike = Union[str, os.PathLike]

#: Prefix of the text tower's weights in a CustomTextCLIP / CoCa state_dict (a plain CLIP keeps them at the top).
_CUSTOM_TEXT_PREFIX = 'text.'


def import_open_clip():
    """Import and return ``open_clip``, or raise an ImportError that says how to install it."""
    try:
        import open_clip
    except ImportError as err:
        raise ImportError(f'OpenCLIP is needed for CLIP text features ({err}); '
                          'install it with: pip install open_clip_torch') from err
    return open_clip


def openclip_model_name(open_clip, clip_model: str) -> str:
    """The registered OpenCLIP name for ``clip_model``, registering a model config ``.json`` first.

    Args:
        open_clip: The imported ``open_clip`` module.
        clip_model (str): An OpenCLIP model name (``open_clip.list_models()``), or the path of a model
            config ``.json`` (``embed_dim``, ``vision_cfg``, ``text_cfg``) whose stem becomes the name.
    """
    if clip_model.endswith('.json'):
        path = Path(clip_model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f'OpenCLIP model config {path} not found')
        open_clip.add_model_config(path)
        if path.stem not in open_clip.list_models():
            raise ValueError(f'{path} is not an OpenCLIP model config (it needs embed_dim, vision_cfg, text_cfg)')
        return path.stem
    known = open_clip.list_models()
    if clip_model not in known:
        close = difflib.get_close_matches(clip_model, known, n=5)
        hint = f'did you mean {", ".join(close)}?' if close else 'see open_clip.list_models()'
        raise ValueError(f'unknown OpenCLIP model {clip_model!r}; {hint}')
    return clip_model


def text_tower_embed_dim(tower: nn.Module) -> int:
    """Channels of a ``TextTransformer``'s output: its projection's width, or the transformer's without one."""
    return int(tower.output_dim) if tower.text_projection is not None else int(tower.width)


def _read_state_dict(checkpoint: Path) -> Dict[str, torch.Tensor]:
    """The weights in ``checkpoint``: safetensors, or a torch file read by our safe loader (bare or ``state_dict``)."""
    if checkpoint.suffix == '.safetensors':
        from safetensors.torch import load_file
        return load_file(str(checkpoint), device='cpu')
    return model_state_dict(load_local_checkpoint(str(checkpoint), map_location='cpu'))


def _text_tower_weights(state_dict: Dict[str, torch.Tensor], tower: nn.Module) -> Dict[str, torch.Tensor]:
    """The text tower's part of a full CLIP state_dict, named as ``tower`` names it.

    A CustomTextCLIP / CoCa keeps them under ``text.``; a plain CLIP keeps them at the
    top level next to ``visual.*`` and ``logit_scale``, under the tower's own top-level names.
    """
    if any(key.startswith(_CUSTOM_TEXT_PREFIX) for key in state_dict):
        return {key[len(_CUSTOM_TEXT_PREFIX):]: value for key, value in state_dict.items()
                if key.startswith(_CUSTOM_TEXT_PREFIX)}
    own = {key.split('.')[0] for key in tower.state_dict()}
    return {key: value for key, value in state_dict.items() if key.split('.')[0] in own}


def build_openclip_text_tower(clip_model: str, checkpoint: PathLike) -> Tuple[nn.Module, Callable, str]:
    """Create the text tower of an OpenCLIP model from its config and load it from a local weights file.

    Nothing is downloaded: only the text tower is created (random init, no
    pretrained tag) and then the text weights of ``checkpoint`` are loaded
    strictly.  Torch files go through :func:`seg.fileio.checkpoint.load_local_checkpoint`
    (``weights_only`` unpickling); ``.safetensors`` through safetensors.

    Args:
        clip_model (str): OpenCLIP model name (e.g. ``'ViT-B-32'``), or a model config ``.json``
            (see :func:`openclip_model_name`).
        checkpoint (str | PathLike): Local weights of the whole CLIP model or of its text tower
            (``.bin``, ``.pt``, ``.pth`` or ``.safetensors``; bare state_dict or under ``'state_dict'``).

    Returns:
        tuple: ``(tower, tokenizer, name)``: the ``TextTransformer`` in eval mode on the CPU in
        float32, mapping (N, context_length) token ids to (N, embed_dim) features (not normalised);
        the model's tokenizer (list of N strings -> (N, context_length) long token ids); the
        registered model name.

    Raises:
        FileNotFoundError: ``checkpoint`` (or the ``.json`` config) does not exist.
        ValueError: Unknown model, a text tower that lives on the Hugging Face hub, or weights
            that do not fit the text tower (missing, unexpected or other shapes).
    """
    open_clip = import_open_clip()
    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.is_file():
        raise FileNotFoundError(f'CLIP checkpoint {checkpoint} not found: give a local OpenCLIP weights file of '
                                f'{clip_model} (e.g. its open_clip_pytorch_model.bin); nothing is downloaded')
    name = openclip_model_name(open_clip, clip_model)
    config = open_clip.get_model_config(name)
    text_cfg = dict(config['text_cfg'])
    if text_cfg.get('hf_model_name'):
        raise ValueError(f'OpenCLIP model {name} has a Hugging Face text tower ({text_cfg["hf_model_name"]}), '
                         'which would be downloaded; use a model with its own text transformer (e.g. ViT-B-32)')
    from open_clip.model import _build_text_tower
    tower = _build_text_tower(config['embed_dim'], text_cfg, quick_gelu=config.get('quick_gelu', False))
    load_text_tower_weights(tower, checkpoint, name)
    return tower.eval(), open_clip.get_tokenizer(name), name


def load_text_tower_weights(tower: nn.Module, checkpoint: PathLike, name: str = 'CLIP') -> None:
    """Load the text weights of a local CLIP checkpoint into ``tower`` strictly (in place, any device/dtype).

    Args:
        tower (nn.Module): A text tower made by :func:`build_openclip_text_tower`.
        checkpoint (str | PathLike): As for :func:`build_openclip_text_tower`.
        name (str): The OpenCLIP model name, for the message.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        ValueError: Its weights do not fit ``tower`` (the message names them, on one line).
    """
    checkpoint = Path(checkpoint).expanduser()
    try:
        weights = _text_tower_weights(_read_state_dict(checkpoint), tower)
        tower.load_state_dict(weights, strict=True)
    except (RuntimeError, KeyError, pickle.UnpicklingError, CheckpointMismatchError) as err:
        reason = ' '.join(str(err).split())  # torch's mismatch report spans lines
        raise ValueError(f'CLIP checkpoint {checkpoint} does not load into OpenCLIP model {name}: {reason}') from err
