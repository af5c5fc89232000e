"""Class embeddings for the open-vocabulary ("sphere") classifier: class names -> (C, S, D) unit vectors.

RapSAM scores each query by cosine similarity against a vocabulary tensor of
shape ``(num_classes, num_synonyms, D)``, made once from a CLIP text tower and
kept on disk.  Each class name is split into synonyms (:func:`split_class_name`),
each synonym is written into the 14 ViLD prompts (:data:`VILD_TEMPLATES`) and
encoded; per synonym the prompt features are normalised, averaged and
normalised again.  A class with fewer synonyms than the class with the most
repeats its first synonym, so every class has ``S`` rows.

``tools/gen_cls.py`` writes the file (:func:`save_class_embeddings`, atomic);
models read it with :func:`load_class_embeddings`, which checks it and, when it
is missing, says which command writes it.  The recipe is RAP-SAM's
``tools/gen_cls.py``; the files it wrote (``~/.cache/embd/<model>_<dataset>.pth``,
a bare tensor) load here unchanged.

Only :func:`build_openclip_text_encoder` needs OpenCLIP (``pip install
open_clip_torch``); it is imported when that function is called.
"""
import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from seg.fileio.atomic import atomic_path
from seg.fileio.checkpoint import load_local_checkpoint
from seg.fileio.errors import InputError
from .openclip_text import build_openclip_text_tower, import_open_clip

__all__ = [
    'VILD_TEMPLATES', 'DEFAULT_EMBEDDING_DIR', 'ClassEmbeddingNotFoundError', 'split_class_name',
    'build_class_embeddings', 'save_class_embeddings', 'load_class_embeddings', 'gen_cls_command',
    'default_embedding_path', 'read_class_names', 'import_open_clip',
    'OpenCLIPTextEncoder', 'build_openclip_text_encoder'
]

PathLike = Union[str, os.PathLike]

#: The prompts each synonym is written into (ViLD's, as used by FC-CLIP and RAP-SAM; keep them
#: verbatim, missing full stops included, or the embeddings stop matching the released models).
VILD_TEMPLATES = (
    'a photo of a {}.',
    'This is a photo of a {}',
    'There is a {} in the scene',
    'There is the {} in the scene',
    'a photo of a {} in the scene',
    'a photo of a small {}.',
    'a photo of a medium {}.',
    'a photo of a large {}.',
    'This is a photo of a small {}.',
    'This is a photo of a medium {}.',
    'This is a photo of a large {}.',
    'There is a small {} in the scene.',
    'There is a medium {} in the scene.',
    'There is a large {} in the scene.',
)

#: Where ``tools/gen_cls.py`` writes by default (relative to the working directory).
DEFAULT_EMBEDDING_DIR = 'checkpoints/class_embeddings'

#: How far a loaded row's norm may be from 1 (float32 normalisation leaves about 1e-7).
_NORM_ATOL = 1e-4


class ClassEmbeddingNotFoundError(FileNotFoundError):
    """A class-embedding file is missing; the message names it and the command that writes it."""


def split_class_name(name: str) -> List[str]:
    """Split one class name into its synonyms, lower-cased.

    ``','``, ``'/'`` and ``'_or_'`` separate synonyms; ``'_'`` inside a synonym
    becomes a space; hyphens and spaces stay.  So ``'wall-other-merged'``,
    ``'playingfield'`` and ``'traffic light'`` are one synonym each,
    ``'tv_or_monitor'`` is ``['tv', 'monitor']`` and ``'bicycle,bike'`` is
    ``['bicycle', 'bike']``.  As in RAP-SAM, ``'_or_'`` is matched before
    lower-casing (``'_OR_'`` separates nothing).  Empty pieces are dropped.

    Args:
        name (str): A dataset class name, e.g. from ``metainfo['classes']``.

    Returns:
        list[str]: The synonyms, in order; empty when ``name`` holds none.
    """
    text = name.replace('_or_', ',').replace('/', ',').replace('_', ' ').lower()
    return [piece.strip() for piece in text.split(',') if piece.strip()]


def build_class_embeddings(class_names: Sequence[str],
                           encode_text: Callable[[List[str]], Tensor],
                           batch_size: int = 256,
                           templates: Sequence[str] = VILD_TEMPLATES,
                           progress: bool = False) -> Tensor:
    """Embed a vocabulary: one unit vector per synonym, padded to the same number of synonyms per class.

    Args:
        class_names (Sequence[str]): C class names; synonyms as in :func:`split_class_name`.
        encode_text (Callable): Maps a list of N prompts to their (N, D) text
            features (not necessarily normalised); called with at most
            ``batch_size`` prompts at a time, under ``torch.no_grad()``.
        batch_size (int): Prompts per ``encode_text`` call.  The result does not depend on it.
        templates (Sequence[str]): Prompt templates, each with one ``'{}'`` for the synonym.
        progress (bool): Show an mmengine progress bar over the prompts.

    Returns:
        Tensor: (C, S, D) float32 on CPU, unit rows; S is the most synonyms any
        class has, and a class with fewer repeats its first synonym's row.
    """
    if isinstance(class_names, str) or not class_names:
        raise ValueError(f'class_names must be a non-empty list of names, got {class_names!r}')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if not templates or any(template.count('{}') != 1 for template in templates):
        raise ValueError(f"each template needs exactly one '{{}}' for the synonym, got {list(templates)}")
    synonyms = []
    for name in class_names:
        pieces = split_class_name(name)
        if not pieces:
            raise ValueError(f"class name {name!r} holds no synonym (after splitting on ',', '/' and '_or_')")
        synonyms.append(pieces)

    prompts = [template.format(synonym) for pieces in synonyms for synonym in pieces for template in templates]
    features = _encode_in_batches(prompts, encode_text, batch_size, progress)
    num_synonyms = sum(len(pieces) for pieces in synonyms)
    per_prompt = F.normalize(features.reshape(num_synonyms, len(templates), -1), dim=-1)
    per_synonym = F.normalize(per_prompt.mean(dim=1), dim=-1)

    width = max(len(pieces) for pieces in synonyms)
    rows = []
    for own in per_synonym.split([len(pieces) for pieces in synonyms]):
        rows.append(torch.cat([own, own[:1].expand(width - len(own), -1)]))
    return torch.stack(rows)


def _encode_in_batches(prompts: List[str], encode_text: Callable[[List[str]], Tensor], batch_size: int,
                       progress: bool) -> Tensor:
    """``encode_text`` over ``prompts`` in chunks of ``batch_size``: (len(prompts), D) float32 on CPU."""
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(prompts))
    chunks = []
    with torch.no_grad():
        for start in range(0, len(prompts), batch_size):
            batch = prompts[start:start + batch_size]
            features = encode_text(batch)
            if not isinstance(features, Tensor) or features.dim() != 2 or features.size(0) != len(batch):
                got = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
                raise ValueError(f'encode_text must return ({len(batch)}, D) for {len(batch)} prompts, got {got}')
            chunks.append(features.detach().to(device='cpu', dtype=torch.float32))
            if bar is not None:
                bar.update(len(batch))
    if bar is not None:
        bar.file.write('\n')
    return torch.cat(chunks)


def gen_cls_command(out: PathLike,
                    source: str = 'CONFIG',
                    clip_model: str = 'CLIP_MODEL',
                    clip_checkpoint: str = 'CLIP_CHECKPOINT') -> str:
    """The ``tools/gen_cls.py`` command line that writes the class embeddings to ``out``.

    ``source`` is a config path or ``'--classes-from FILE'``; the defaults are
    placeholders for a person to fill in.
    """
    return f'python tools/gen_cls.py {source} --clip-model {clip_model} --clip-checkpoint {clip_checkpoint} --out {out}'


def default_embedding_path(clip_model: str, vocabulary: str) -> Path:
    """``checkpoints/class_embeddings/<clip model>_<vocabulary>.pth`` (RAP-SAM's ``<model>_<dataset>`` naming).

    Args:
        clip_model (str): OpenCLIP model name, or a model config ``.json`` (its stem is used).
        vocabulary (str): Dataset name (e.g. ``'CocoPanopticOVDataset'``) or class-list name.
    """
    model = Path(clip_model).stem if clip_model.endswith('.json') else clip_model
    return Path(DEFAULT_EMBEDDING_DIR) / f'{model}_{vocabulary}.pth'


def _check_embeddings(value, where: str, num_classes: Optional[int] = None,
                      embed_dim: Optional[int] = None) -> Tensor:
    """Return ``value`` if it is a (C, S, D) floating tensor of unit rows matching the expected sizes."""
    classes = 'C' if num_classes is None else num_classes
    dim = 'D' if embed_dim is None else embed_dim
    expected = f'(num_classes={classes}, num_synonyms, dim={dim})'
    if not isinstance(value, Tensor):
        raise ValueError(f'{where}: expected a tensor {expected}, got a {type(value).__name__}')
    if value.dim() != 3 or value.numel() == 0:
        raise ValueError(f'{where}: expected a non-empty tensor {expected}, got shape {tuple(value.shape)}')
    if not value.is_floating_point():
        raise ValueError(f'{where}: expected floating-point values, got {value.dtype}')
    if num_classes is not None and value.size(0) != num_classes:
        raise ValueError(f'{where}: expected {num_classes} classes {expected}, got {value.size(0)} '
                         f'(shape {tuple(value.shape)}); make it from the same class list as the model')
    if embed_dim is not None and value.size(-1) != embed_dim:
        raise ValueError(f'{where}: expected dim {embed_dim} {expected}, got {value.size(-1)} '
                         f'(shape {tuple(value.shape)}); make it with the same CLIP model as the model')
    norms = value.detach().float().norm(dim=-1)
    if not torch.isfinite(norms).all() or not torch.allclose(norms, torch.ones_like(norms), atol=_NORM_ATOL):
        raise ValueError(f'{where}: rows must be unit vectors, got norms in '
                         f'[{norms.min().item():.4g}, {norms.max().item():.4g}]')
    return value


def save_class_embeddings(embeddings: Tensor, path: PathLike) -> Path:
    """Write class embeddings atomically: to a temporary sibling file, then renamed over ``path``.

    An interrupted or failing write leaves an existing file at ``path`` as it
    was and no temporary file behind.

    Args:
        embeddings (Tensor): (C, S, D) unit rows (as :func:`build_class_embeddings` returns).
        path (str | PathLike): Destination; parent folders are created.

    Returns:
        Path: ``path``, with ``~`` expanded.
    """
    path = Path(path).expanduser()
    value = _check_embeddings(embeddings, 'class embeddings to save')
    value = value.detach().to(device='cpu', dtype=torch.float32).clone(memory_format=torch.contiguous_format)
    with atomic_path(path, sync=True) as tmp:
        with open(tmp, 'xb') as file:
            torch.save(value, file)
    return path


def load_class_embeddings(path: PathLike, num_classes: Optional[int] = None,
                          embed_dim: Optional[int] = None) -> Tensor:
    """Read a class-embedding file (``torch.load(weights_only=True)``) and check it.

    Args:
        path (str | PathLike): File written by ``tools/gen_cls.py`` (or RAP-SAM's).
        num_classes (int, optional): C the model expects.
        embed_dim (int, optional): D the model expects (the CLIP text width).

    Returns:
        Tensor: (C, S, D) float32 on CPU, unit rows.

    Raises:
        ClassEmbeddingNotFoundError: No file at ``path``; the message gives the command that writes it.
        ValueError: Not a tensor file, not (C, S, D), sizes differing from
            ``num_classes`` / ``embed_dim``, or rows that are not unit vectors.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ClassEmbeddingNotFoundError(
            f'class embeddings {path} not found; write them with\n'
            f'    {gen_cls_command(path)}\n'
            'where CONFIG is the config whose dataset names the classes (or use --classes-from FILE), '
            'CLIP_MODEL the OpenCLIP model (e.g. convnext_large_d_320) and CLIP_CHECKPOINT a local weights '
            'file of it')
    try:
        value = load_local_checkpoint(str(path), map_location='cpu')
    except (InputError, EOFError, KeyError, ValueError) as err:
        raise ValueError(f'class embeddings {path}: not a tensor file that loads safely '
                         f'({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""})') from err
    return _check_embeddings(value, f'class embeddings {path}', num_classes, embed_dim).float()


def read_class_names(spec: str) -> Tuple[List[str], str]:
    """Class names from ``--classes-from``: a text file, one class per line, or a comma-separated list.

    In a file, commas within a line separate that class's synonyms (COCO-OV
    style, ``'bicycle,bicycles,bike'``); blank lines and lines starting with
    ``#`` are skipped.  In a comma list each item is one class; give its
    synonyms with ``/`` or ``_or_`` (``'cat/kitty,dog'``).  A ``spec`` ending
    in ``.txt`` is always a file.

    Returns:
        tuple[list[str], str]: The class names and a vocabulary name for the
        output file: the file's stem, or ``'custom'`` for a list.
    """
    path = Path(spec).expanduser()
    if path.is_file():
        lines = (line.strip() for line in path.read_text(encoding='utf-8').splitlines())
        names, vocabulary = [line for line in lines if line and not line.startswith('#')], path.stem
    elif spec.endswith('.txt'):
        raise FileNotFoundError(f'class list {path} not found (a .txt file, one class per line)')
    else:
        names, vocabulary = [item.strip() for item in spec.split(',') if item.strip()], 'custom'
    if not names:
        raise ValueError(f'no class names in {spec!r}')
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f'class names repeat in {spec!r}: {duplicates}')
    return names, vocabulary


class OpenCLIPTextEncoder:
    """The text tower of an OpenCLIP model, as the ``encode_text`` of :func:`build_class_embeddings`.

    Called with N strings it returns their (N, D) features, float32 on CPU, not
    normalised: the transformer output at the end-of-text token after
    ``ln_final``, times ``text_projection`` (``encode_text(normalize=False)``,
    which is what RAP-SAM's ``OpenCLIPBackboneText`` computes).

    Args:
        model (nn.Module): An OpenCLIP text tower (``TextTransformer``, as
            :func:`~seg.models.utils.openclip_text.build_openclip_text_tower` builds it).
        tokenizer (Callable): The model's tokenizer, list of strings -> (N, context_length) token ids.
        device (str | torch.device): Where ``model`` is.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Callable, device: Union[str, torch.device]):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, texts: List[str]) -> Tensor:
        tokens = self.tokenizer(list(texts)).to(self.device)
        features = self.model(tokens)
        if isinstance(features, tuple):  # a tower that also returns its token features (CoCa)
            features = features[0]
        return features.to(device='cpu', dtype=torch.float32)


def build_openclip_text_encoder(clip_model: str, checkpoint: PathLike,
                                device: Union[str, torch.device] = 'cpu') -> OpenCLIPTextEncoder:
    """Create an OpenCLIP text tower from its config and load a local weights file into it.

    Nothing is downloaded and the image tower is never built
    (:func:`~seg.models.utils.openclip_text.build_openclip_text_tower`).

    Args:
        clip_model (str): OpenCLIP model name (``open_clip.list_models()``, e.g.
            ``'convnext_large_d_320'``), or the path of a model config ``.json``
            (``embed_dim``, ``vision_cfg``, ``text_cfg``) whose stem becomes the name.
        checkpoint (str | PathLike): Local weights of that model (``.bin``,
            ``.pt``, ``.pth`` or ``.safetensors``; a bare state_dict or one under ``'state_dict'``).
        device (str | torch.device): Where the text tower runs.

    Returns:
        OpenCLIPTextEncoder: The callable text encoder.
    """
    tower, tokenizer, _ = build_openclip_text_tower(clip_model, checkpoint)
    return OpenCLIPTextEncoder(tower.to(device), tokenizer, device)
