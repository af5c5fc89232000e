"""Prompt fusion: each object's points, box, mask and text -> one prompt query.

A batch holds B samples; sample ``i`` prompts K_i objects in an image of
``image_sizes[i] = (H, W)`` pixels.  Each of the four modalities becomes one
token per object (``embed_dim`` channels):

* points: SAM's point tokens (random-Fourier encoding of the pixel centre plus
  the positive / negative type embedding, ``not_a_point_embed`` for padding),
  averaged over the object's real (non-padding) points;
* boxes: SAM's two corner tokens, concatenated, then a Linear;
* masks: the mask resized to ``mask_size`` x ``mask_size``, SAM's
  ``mask_downscaling`` convs, averaged over space;
* texts: the text encoder's embedding, then a Linear.

Positions are normalised by each sample's own image size, so a prompt means the
same place whatever the resolution.  An object without a modality gets that
modality's learned "absent" embedding (SAM's ``no_mask_embed`` for masks).  The
four tokens are then fused (``strategy``) into the object's query.

Every branch takes part in every forward, on a one-object dummy input weighted
by zero when no object of the batch has that modality, so every trainable
parameter gets a gradient and DDP can run with ``find_unused_parameters=False``.
"""
from itertools import accumulate
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import ConfigType
from torch import Tensor

from ext.sam.prompt_encoder import (MASK_TO_EMBEDDING_STRIDE, NEGATIVE_LABEL, PADDING_LABEL, POSITIVE_LABEL,
                                    PromptEncoder)
from seg.fileio.errors import InputError
from seg.registry import MODELS

#: The four prompt modalities, in the order of their tokens.
MODALITIES = ('points', 'boxes', 'masks', 'texts')
#: Every field a prompt may have (``point_labels`` goes with ``points``; ``has_box`` / ``has_mask``,
#: (K,) bool, with ``boxes`` / ``masks`` when only some objects of a sample have one).
PROMPT_FIELDS = ('points', 'point_labels', 'boxes', 'has_box', 'masks', 'has_mask', 'texts')
#: Presence flags and the field each goes with.
PRESENCE_FIELDS = {'has_box': 'boxes', 'has_mask': 'masks'}
#: How the four modality tokens of an object become its query.
STRATEGIES = ('sum', 'concat_mlp', 'cross_attention')
#: What the text branch reads when no object of a batch has a text (its output is weighted by zero).
DUMMY_TEXT = 'object'

_LABELS = (POSITIVE_LABEL, NEGATIVE_LABEL, PADDING_LABEL)
_FIELD_HELP = ('points (K, P, 2) (x, y) pixels, point_labels (K, P) 1/0/-1, boxes (K, 4) (x1, y1, x2, y2) '
               'pixels, masks (K, H, W), texts (K strings); has_box / has_mask (K,) bool')


class PromptError(InputError):
    """A prompt :class:`PromptFusion` cannot use; the message names the sample, the object, the problem and the fix.

    Attributes:
        sample: index of the sample in the batch, or None when the batch itself is wrong.
        obj: index of the object in its sample, or None when the whole sample is wrong.
        detail: the problem and the fix without the sample and object, for callers that
            name the prompt as their user knows it (``seg.apis``: "object 7 on frame 2").
    """

    def __init__(self, message: str, sample: Optional[int] = None, obj: Optional[int] = None,
                 detail: Optional[str] = None):
        super().__init__(message)
        self.sample, self.obj, self.detail = sample, obj, detail


def _fail(sample: int, problem: str, fix: str, obj: Optional[int] = None) -> PromptError:
    where = f'sample {sample}' if obj is None else f'sample {sample}, object {obj}'
    return PromptError(f'prompt of {where}: {problem}; {fix}', sample, obj, f'{problem}; {fix}')


def _num_objects(prompt: Any, sample: int) -> int:
    """K of one sample's prompt, after checking its fields name the same number of objects."""
    sizes = {}
    for name in PROMPT_FIELDS:
        value = prompt.get(name)
        if value is not None:
            if not hasattr(value, '__len__') or (isinstance(value, Tensor) and value.dim() == 0):
                raise _fail(sample, f'{name} is a {type(value).__name__} without one entry per object',
                            f'give {_FIELD_HELP}')
            sizes[name] = len(value)
    if len(set(sizes.values())) > 1:
        raise _fail(sample, f'its fields name different numbers of objects {sizes}',
                    'give every field one entry per object, in the same order')
    return next(iter(sizes.values()), 0)


def present_in(prompt: Any, field: str, num: int, device=None) -> Tensor:
    """(K,) bool: which objects have ``field`` (``boxes`` / ``masks``): its ``has_*`` flag, else all if given."""
    flag = next((name for name, target in PRESENCE_FIELDS.items() if target == field), None)
    if prompt.get(field) is None:
        return torch.zeros(num, dtype=torch.bool, device=device)
    if flag is not None and prompt.get(flag) is not None:
        return prompt.get(flag).to(device=device, dtype=torch.bool)
    return torch.ones(num, dtype=torch.bool, device=device)


def _check_presence(prompt: Any, sample: int, fields: List[str]) -> None:
    for flag, target in PRESENCE_FIELDS.items():
        if flag not in fields:
            continue
        if target not in fields:
            raise _fail(sample, f'it has {flag} but no {target}', f'give the {target} too, or leave out {flag}')
        value = _check_tensor(prompt.get(flag), sample, flag, '(K,) bool', 1)
        if value.dtype != torch.bool:
            raise _fail(sample, f'{flag} is {value.dtype}', f'give {flag} as a (K,) bool tensor')


def _check_tensor(value: Any, sample: int, field: str, shape: str, ndim: int) -> Tensor:
    if not isinstance(value, Tensor):
        raise _fail(sample, f'{field} is a {type(value).__name__}, not a tensor', f'give {field} as a tensor {shape}')
    if value.dim() != ndim:
        raise _fail(sample, f'{field} has shape {tuple(value.shape)}', f'give {field} as a tensor {shape}')
    if value.is_complex():
        raise _fail(sample, f'{field} is complex ({value.dtype})', f'give {field} as real numbers')
    return value


def _first(bad: Tensor) -> Optional[Tuple[int, ...]]:
    """Index of the first True of ``bad``, or None (one device sync)."""
    if not bool(bad.any()):
        return None
    return tuple(bad.nonzero()[0].tolist())


def _check_every_object_prompted(prompt: Any, sample: int, num: int) -> None:
    """Each object needs one real prompt: a non-padding point, a present box or mask, or a text."""
    prompted = present_in(prompt, 'boxes', num, 'cpu') | present_in(prompt, 'masks', num, 'cpu')
    if prompt.get('texts') is not None:
        prompted |= True
    if prompt.get('points') is not None:
        labels = prompt.get('point_labels')
        if labels is None:
            prompted |= True
        else:
            prompted |= (labels.cpu() != PADDING_LABEL).any(dim=1)
    bad = _first(~prompted)
    if bad is not None:
        raise _fail(sample, 'all its points are padding (label -1) and it has no box, mask or text',
                    'give it at least one positive (1) or negative (0) point, a box, a mask or a text', bad[0])


def _check_points(prompt: Any, sample: int, size: Tuple[int, int]) -> None:
    height, width = size
    points = _check_tensor(prompt.get('points'), sample, 'points', '(K, P, 2) of (x, y) pixels', 3)
    if points.shape[1] == 0 or points.shape[2] != 2:
        raise _fail(sample, f'points has shape {tuple(points.shape)}',
                    'give points as (K, P, 2) (x, y) pixels with P >= 1 (pad with label -1)')
    labels = prompt.get('point_labels')
    if labels is None:
        labels = torch.ones(points.shape[:2], dtype=torch.long, device=points.device)
    labels = _check_tensor(labels, sample, 'point_labels', f'(K, P) = {tuple(points.shape[:2])} of 1/0/-1', 2)
    if tuple(labels.shape) != tuple(points.shape[:2]):
        raise _fail(sample, f'point_labels has shape {tuple(labels.shape)} but points {tuple(points.shape)}',
                    f'give one label per point, (K, P) = {tuple(points.shape[:2])}')
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise _fail(sample, f'point_labels are {labels.dtype}', 'give them as integers (torch.long): 1 positive, '
                    '0 negative, -1 padding')
    bad = _first((labels != POSITIVE_LABEL) & (labels != NEGATIVE_LABEL) & (labels != PADDING_LABEL))
    if bad is not None:
        raise _fail(sample, f'point {bad[1]} has label {int(labels[bad])}',
                    'label points 1 (positive), 0 (negative) or -1 (padding)', bad[0])
    coords = points.detach().double()
    x, y = coords[..., 0], coords[..., 1]
    outside = ~((x >= 0) & (x < width) & (y >= 0) & (y < height))  # NaN counts as outside
    bad = _first(outside & (labels != PADDING_LABEL))
    if bad is not None:
        raise _fail(sample, f'point {bad[1]} at (x, y) = ({x[bad]:g}, {y[bad]:g}) lies outside the image of '
                    f'(H, W) = ({height}, {width})', 'give points as (x, y) pixel indices with 0 <= x < W and '
                    '0 <= y < H of that sample\'s image (image_sizes are (H, W))', bad[0])


def _check_boxes(prompt: Any, sample: int, size: Tuple[int, int], given: Tensor) -> None:
    """Check the boxes of the objects that have one (``given``, (K,) bool)."""
    height, width = size
    boxes = _check_tensor(prompt.get('boxes'), sample, 'boxes', '(K, 4) of (x1, y1, x2, y2) pixels', 2)
    if boxes.shape[1] != 4:
        raise _fail(sample, f'boxes has shape {tuple(boxes.shape)}', 'give boxes as (K, 4) (x1, y1, x2, y2) pixels')
    boxes = torch.where(given[:, None].to(boxes.device), boxes, torch.zeros_like(boxes))
    x1, y1, x2, y2 = boxes.detach().double().unbind(-1)
    bad = _first(~torch.isfinite(boxes.detach()).all(dim=1))
    if bad is not None:
        raise _fail(sample, f'box {boxes[bad].tolist()} has a NaN or infinite coordinate',
                    'give finite (x1, y1, x2, y2) pixels', bad[0])
    bad = _first(~((x2 >= x1) & (y2 >= y1)))
    if bad is not None:
        raise _fail(sample, f'box (x1, y1, x2, y2) = {tuple(round(v, 4) for v in boxes[bad].tolist())} has '
                    'x2 < x1 or y2 < y1', 'give boxes as (x1, y1, x2, y2): top-left corner first, then '
                    'bottom-right', bad[0])
    bad = _first(~((x1 >= 0) & (y1 >= 0) & (x2 <= width) & (y2 <= height)))
    if bad is not None:
        raise _fail(sample, f'box (x1, y1, x2, y2) = {tuple(round(v, 4) for v in boxes[bad].tolist())} reaches '
                    f'outside the image of (H, W) = ({height}, {width})', 'clip boxes to 0 <= x1 <= x2 <= W and '
                    '0 <= y1 <= y2 <= H of that sample\'s image (image_sizes are (H, W))', bad[0])


def _check_masks(prompt: Any, sample: int, size: Tuple[int, int], num: int) -> None:
    masks = _check_tensor(prompt.get('masks'), sample, 'masks', f'(K, H, W) = ({num}, {size[0]}, {size[1]})', 3)
    if tuple(masks.shape[1:]) != tuple(size):
        raise _fail(sample, f'masks are {tuple(masks.shape[1:])} (H, W) but the image is {tuple(size)}',
                    'give masks at exactly the image size of image_sizes (resize or crop them with the image)')
    if not (masks.dtype == torch.bool or masks.dtype == torch.uint8 or masks.is_floating_point()):
        raise _fail(sample, f'masks are {masks.dtype}', 'give masks as bool, uint8 0/1 or float in [0, 1]')


def _check_texts(prompt: Any, sample: int) -> None:
    texts = prompt.get('texts')
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise _fail(sample, f'texts is a {type(texts).__name__}', 'give texts as a list of K strings, one per object')
    for obj, text in enumerate(texts):
        if not isinstance(text, str):
            raise _fail(sample, f'text is a {type(text).__name__} ({text!r})', 'give each text as a str', obj)
        if not text.strip():
            raise _fail(sample, f'text {text!r} is empty or only whitespace',
                        'describe the object in words, or leave the texts field out of this sample', obj)


def _check_size(size: Any, sample: int) -> Tuple[int, int]:
    try:
        height, width = (int(v) for v in size)
        ok = height > 0 and width > 0 and all(float(v) == int(v) for v in size)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise _fail(sample, f'image size {size!r} is not two positive integers',
                    'give image_sizes[i] as (H, W) in pixels')
    return height, width


def check_prompts(prompts: Sequence[Any], image_sizes: Sequence[Tuple[int, int]]) -> List[int]:
    """Check a batch of prompts for :class:`PromptFusion` and return each sample's number of objects.

    Args:
        prompts (Sequence[InstanceData]): B prompts, as :meth:`PromptFusion.forward` takes them
            (an InstanceData, or a dict, of some of :data:`PROMPT_FIELDS`).
        image_sizes (Sequence[tuple[int, int]]): B image sizes (H, W) in pixels.

    Returns:
        list[int]: K_i of every sample (each >= 1).

    Raises:
        PromptError: With one message naming the sample (and object), the problem and the fix:
            unknown fields, fields of different K, a sample without prompts or objects, points
            outside the image or labelled other than 1/0/-1, boxes with x2 < x1 / y2 < y1 or
            outside the image, masks of another size than the image, empty or non-str texts,
            an object whose only prompt is all-padding points, or B mismatching image_sizes.
    """
    if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence) or not prompts:
        raise PromptError(f'prompts must be a non-empty list of B InstanceData (one per sample), got {prompts!r}')
    if len(image_sizes) != len(prompts):
        raise PromptError(f'{len(prompts)} prompts but {len(image_sizes)} image sizes; give image_sizes as one '
                          '(H, W) per sample, in the order of the prompts')
    counts = []
    for sample, (prompt, size) in enumerate(zip(prompts, image_sizes)):
        if not (hasattr(prompt, 'keys') and hasattr(prompt, 'get')):
            raise _fail(sample, f'it is a {type(prompt).__name__}', f'give an InstanceData with {_FIELD_HELP}')
        size = _check_size(size, sample)
        fields = list(prompt.keys())
        unknown = sorted(set(fields) - set(PROMPT_FIELDS))
        if unknown:
            raise _fail(sample, f'unknown field(s) {unknown}', f'use only {_FIELD_HELP}')
        if 'point_labels' in fields and 'points' not in fields:
            raise _fail(sample, 'it has point_labels but no points', 'give the points too, or leave out the labels')
        if not any(name in fields for name in MODALITIES):
            raise _fail(sample, 'it has no prompt at all', f'give each object at least one of {_FIELD_HELP}')
        num = _num_objects(prompt, sample)
        if num == 0:
            raise _fail(sample, 'it has no objects (its fields are empty)',
                        'leave the sample out of the batch, or give at least one object')
        _check_presence(prompt, sample, fields)
        if 'points' in fields:
            _check_points(prompt, sample, size)
        if 'boxes' in fields:
            _check_boxes(prompt, sample, size, present_in(prompt, 'boxes', num))
        if 'masks' in fields:
            _check_masks(prompt, sample, size, num)
        if 'texts' in fields:
            _check_texts(prompt, sample)
        _check_every_object_prompted(prompt, sample, num)
        counts.append(num)
    return counts


@MODELS.register_module()
class PromptFusion(nn.Module):
    """Turn each object's prompts (points, box, mask, text) into one query of ``embed_dim`` channels.

    Points and boxes use the parts of SAM's :class:`~ext.sam.prompt_encoder.PromptEncoder`
    (``self.prompt_encoder``, state_dict layout as SAM's): its random-Fourier
    position encoding (``pe_layer``), normalised by each sample's own (H, W), its
    point and corner type embeddings, and its ``mask_downscaling`` for masks.
    Texts go through ``text_encoder`` and a Linear.  See the module docstring for
    each branch.

    Args:
        embed_dim (int): Channels of a query (even; SAM's is 256).
        strategy (str): How an object's four modality tokens (N, 4, embed_dim) become its query:
            ``'sum'`` adds them; ``'concat_mlp'`` runs Linear(4·embed_dim, embed_dim), GELU,
            Linear(embed_dim, embed_dim) on their concatenation; ``'cross_attention'`` adds a
            learned modality-type embedding, lets each token attend to the other three
            (multi-head attention with residual and LayerNorm) and averages the four.
            Defaults to ``'sum'``.
        text_encoder (dict | nn.Module): Config (or module) of the text encoder, any module with
            ``embed_dim`` and ``forward(texts) -> (N, embed_dim)``: ``TextEncoder`` (CLIP) or
            ``ToyTextEncoder``. Defaults to a 64-channel ``ToyTextEncoder``.
        mask_in_chans (int): Hidden channels of SAM's mask branch (a multiple of 4). Defaults to 16.
        num_heads (int): Attention heads of ``'cross_attention'`` (must divide ``embed_dim``). Defaults to 4.
        mask_size (int): Side, in pixels, of the square a mask prompt is resized to (area
            interpolation) before ``mask_downscaling`` (a multiple of 4). Defaults to 64.

    Attributes:
        absent_embed (nn.Embedding): Rows 0, 1, 2: the absent-points, absent-box and absent-text
            embeddings; an absent mask is ``prompt_encoder.no_mask_embed``, as in SAM.
    """

    def __init__(self,
                 embed_dim: int,
                 strategy: str = 'sum',
                 text_encoder: Union[ConfigType, nn.Module] = dict(type='ToyTextEncoder', embed_dim=64),
                 mask_in_chans: int = 16,
                 num_heads: int = 4,
                 mask_size: int = 64) -> None:
        super().__init__()
        if strategy not in STRATEGIES:
            raise ValueError(f'strategy must be one of {STRATEGIES}, got {strategy!r}')
        if mask_size <= 0 or mask_size % MASK_TO_EMBEDDING_STRIDE:
            raise ValueError(f'mask_size must be a positive multiple of {MASK_TO_EMBEDDING_STRIDE}, got {mask_size}')
        self.embed_dim = embed_dim
        self.strategy = strategy
        self.mask_size = mask_size
        side = mask_size // MASK_TO_EMBEDDING_STRIDE
        # input_image_size is unused here: positions are normalised by each sample's own image size.
        self.prompt_encoder = PromptEncoder(embed_dim, (side, side), (mask_size, mask_size), mask_in_chans)
        self.text_encoder = text_encoder if isinstance(text_encoder, nn.Module) else MODELS.build(text_encoder)
        self.box_proj = nn.Linear(2 * embed_dim, embed_dim)
        self.text_proj = nn.Linear(self.text_encoder.embed_dim, embed_dim)
        self.absent_embed = nn.Embedding(3, embed_dim)
        if strategy == 'concat_mlp':
            self.fusion_mlp = nn.Sequential(
                nn.Linear(len(MODALITIES) * embed_dim, embed_dim), nn.GELU(), nn.Linear(embed_dim, embed_dim))
        elif strategy == 'cross_attention':
            if embed_dim % num_heads:
                raise ValueError(f'num_heads ({num_heads}) must divide embed_dim ({embed_dim})')
            self.modality_embed = nn.Embedding(len(MODALITIES), embed_dim)
            self.fusion_attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
            self.fusion_norm = nn.LayerNorm(embed_dim)

    def init_weights(self) -> None:
        """Let the text encoder restore its pretrained weights (``TextEncoder`` reloads its checkpoint).

        mmengine's ``BaseModule.init_weights`` of a parent calls this after applying
        the parent's ``init_cfg``; the other weights keep their PyTorch initialisation.
        """
        if hasattr(self.text_encoder, 'init_weights'):
            self.text_encoder.init_weights()

    # ------------------------------------------------------------------ branches
    def _point_tokens(self, points: Tensor, labels: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """(K, P, 2) (x, y) pixels and (K, P) labels -> (K, embed_dim): the mean token of the real points."""
        encoder = self.prompt_encoder
        labels = labels[..., None]
        is_padding = labels == PADDING_LABEL
        # Pixel index to pixel centre, as SAM does; padding coordinates may be anything, so zero them.
        centres = torch.where(is_padding, torch.zeros_like(points), points + 0.5)
        tokens = encoder.pe_layer.forward_with_coords(centres, image_size)
        tokens = torch.where(is_padding, encoder.not_a_point_embed.weight, tokens)
        tokens = tokens + (labels == NEGATIVE_LABEL) * encoder.point_embeddings[0].weight
        tokens = tokens + (labels == POSITIVE_LABEL) * encoder.point_embeddings[1].weight
        weights = (~is_padding).to(tokens.dtype)
        return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1)

    def _box_tokens(self, boxes: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """(K, 4) (x1, y1, x2, y2) pixels -> (K, embed_dim): SAM's two corner tokens, concatenated, Linear."""
        encoder = self.prompt_encoder
        corners = (boxes + 0.5).reshape(-1, 2, 2)  # pixel index to pixel centre, as SAM does
        tokens = encoder.pe_layer.forward_with_coords(corners, image_size)
        tokens = tokens + torch.cat([encoder.point_embeddings[2].weight, encoder.point_embeddings[3].weight])
        return self.box_proj(tokens.flatten(1))

    def _mask_tokens(self, masks: Tensor) -> Tensor:
        """(K, 1, mask_size, mask_size) in [0, 1] -> (K, embed_dim): mask_downscaling, averaged over space."""
        return self.prompt_encoder.mask_downscaling(masks).mean(dim=(2, 3))

    def _text_tokens(self, texts: List[str]) -> Tensor:
        """N sentences -> (N, embed_dim): the text encoder's embedding, Linear."""
        features = self.text_encoder(texts)
        return self.text_proj(features.to(self.text_proj.weight.dtype))

    def _dummy(self, modality: str) -> Tensor:
        """The branch of ``modality`` on a one-object dummy prompt, summed to a scalar (to be weighted by 0)."""
        reference = self.absent_embed.weight
        if modality == 'points':
            out = self._point_tokens(reference.new_zeros(1, 1, 2),
                                     torch.full((1, 1), POSITIVE_LABEL, device=reference.device), (1, 1))
        elif modality == 'boxes':
            out = self._box_tokens(reference.new_zeros(1, 4), (1, 1))
        elif modality == 'masks':
            side = MASK_TO_EMBEDDING_STRIDE
            out = self._mask_tokens(reference.new_zeros(1, 1, side, side))
        else:
            out = self._text_tokens([DUMMY_TEXT])
        return out.sum()

    def _modality_tokens(self, prompts: Sequence[Any], image_sizes: Sequence[Tuple[int, int]],
                         counts: List[int]) -> Tensor:
        """(N, 4, embed_dim) tokens of all N = sum(K_i) objects, absent embeddings where a modality is missing."""
        device, dtype = self.absent_embed.weight.device, self.absent_embed.weight.dtype
        starts = [0] + list(accumulate(counts))
        total = starts[-1]
        absent = {'points': self.absent_embed.weight[0], 'boxes': self.absent_embed.weight[1],
                  'masks': self.prompt_encoder.no_mask_embed.weight[0], 'texts': self.absent_embed.weight[2]}
        present_at: Dict[str, List[Tensor]] = {m: [] for m in MODALITIES}  # indices into the N objects
        values: Dict[str, List[Tensor]] = {m: [] for m in MODALITIES}
        texts: List[str] = []
        masks: List[Tensor] = []
        for sample, (prompt, size) in enumerate(zip(prompts, image_sizes)):
            size = (int(size[0]), int(size[1]))
            index = torch.arange(starts[sample], starts[sample + 1], device=device)
            points = prompt.get('points')
            if points is not None:
                labels = prompt.get('point_labels')
                points = points.to(device=device, dtype=dtype)
                labels = (torch.ones(points.shape[:2], dtype=torch.long, device=device) if labels is None else
                          labels.to(device=device, dtype=torch.long))
                real = (labels != PADDING_LABEL).any(dim=1)
                present_at['points'].append(index[real])
                values['points'].append(self._point_tokens(points, labels, size)[real])
            if prompt.get('boxes') is not None:
                keep = present_in(prompt, 'boxes', len(index), device)
                present_at['boxes'].append(index[keep])
                boxes = prompt.get('boxes').to(device=device, dtype=dtype)[keep]
                values['boxes'].append(self._box_tokens(boxes, size))
            if prompt.get('masks') is not None:
                keep = present_in(prompt, 'masks', len(index), device)
                mask = prompt.get('masks').to(device=device, dtype=dtype)[keep]
                masks.append(F.interpolate(mask[:, None], size=(self.mask_size, self.mask_size), mode='area'))
                present_at['masks'].append(index[keep])
            if prompt.get('texts') is not None:
                texts.extend(prompt.get('texts'))
                present_at['texts'].append(index)
        if masks:
            values['masks'].append(self._mask_tokens(torch.cat(masks)))
        if texts:
            values['texts'].append(self._text_tokens(texts))

        tokens = []
        for modality in MODALITIES:
            out = absent[modality].expand(total, -1)
            if values[modality]:
                # Branch outputs may be autocast's lower precision; the tokens keep the embeddings' dtype.
                out = out.index_put((torch.cat(present_at[modality]),), torch.cat(values[modality]).to(out.dtype))
            else:
                out = out + 0 * self._dummy(modality)
            tokens.append(out)
        return torch.stack(tokens, dim=1)

    def _fuse(self, tokens: Tensor) -> Tensor:
        """(N, 4, embed_dim) modality tokens -> (N, embed_dim) queries, by ``strategy``."""
        if self.strategy == 'sum':
            return tokens.sum(dim=1)
        if self.strategy == 'concat_mlp':
            return self.fusion_mlp(tokens.flatten(1))
        tokens = tokens + self.modality_embed.weight
        # True = may not attend: each modality attends to the other three, not to itself.
        others_only = torch.eye(len(MODALITIES), dtype=torch.bool, device=tokens.device)
        attended, _ = self.fusion_attn(tokens, tokens, tokens, attn_mask=others_only, need_weights=False)
        return self.fusion_norm(tokens + attended).mean(dim=1)

    def forward(self, prompts: Sequence[Any], image_sizes: Sequence[Tuple[int, int]]) -> Tuple[Tensor, Tensor]:
        """Fuse the prompts of a batch into padded per-object queries.

        Args:
            prompts (Sequence[InstanceData]): B prompts; ``prompts[i]`` holds the K_i objects of
                sample i in any subset of these fields, each for all K_i objects (at least one
                of points, boxes, masks, texts):

                - ``points`` (K, P, 2) float: (x, y) pixel indices (column, row) in
                  ``image_sizes[i]``, 0 <= x < W, 0 <= y < H; a point sits at its pixel centre.
                - ``point_labels`` (K, P) long: 1 positive, 0 negative, -1 padding (all 1 if
                  left out). An object whose points are all padding has no points.
                - ``boxes`` (K, 4) float: (x1, y1, x2, y2) pixels, 0 <= x1 <= x2 <= W,
                  0 <= y1 <= y2 <= H.
                - ``masks`` (K, H, W) bool, uint8 0/1 or float in [0, 1], at exactly (H, W).
                - ``texts`` list of K non-empty str.
            image_sizes (Sequence[tuple[int, int]]): B sizes (H, W) in pixels of the images the
                prompts are given in.

        Returns:
            tuple[Tensor, Tensor]: ``queries`` (B, K_max, embed_dim) in the module's dtype and
            device, zeros at padding; ``valid`` (B, K_max) bool, True for the K_i real objects
            of sample i (the first K_i slots, in prompt order).

        Raises:
            PromptError: A prompt :func:`check_prompts` refuses.
        """
        counts = check_prompts(prompts, image_sizes)
        fused = self._fuse(self._modality_tokens(prompts, image_sizes, counts))
        device = fused.device
        batch_index = torch.repeat_interleave(torch.arange(len(counts), device=device),
                                              torch.tensor(counts, device=device))
        object_index = torch.cat([torch.arange(count, device=device) for count in counts])
        queries = fused.new_zeros(len(counts), max(counts), self.embed_dim)
        queries = queries.index_put((batch_index, object_index), fused)
        valid = torch.zeros(len(counts), max(counts), dtype=torch.bool, device=device)
        valid[batch_index, object_index] = True
        return queries, valid
