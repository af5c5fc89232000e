"""SAM's prompt encoder: points, boxes and a low-res mask to the tokens SAM's mask decoder reads.

Rewritten from Segment Anything (facebookresearch/segment-anything, as vendored by
RAP-SAM in ``ext/sam/prompt_encoder.py``); the state_dict layout is the official one,
so SAM checkpoints load after stripping their ``prompt_encoder.`` prefix.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import Tensor

from .layer_norm_2d import LayerNorm2d

# Point labels, as SAM defines them.
PADDING_LABEL = -1  # not a point: the token carries ``not_a_point_embed`` only
NEGATIVE_LABEL = 0  # background click
POSITIVE_LABEL = 1  # foreground click

# The mask prompt is 4x the image embedding in each direction (two stride-2 convs bring it down).
MASK_TO_EMBEDDING_STRIDE = 4


class PositionEmbeddingRandom(nn.Module):
    """Fourier features of 2-D positions with a fixed random Gaussian frequency matrix.

    A position p in [0, 1]^2 becomes ``[sin(2π (2p - 1) G), cos(2π (2p - 1) G)]``
    with G of shape (2, num_pos_feats), so the encoding has ``2 * num_pos_feats``
    channels. G is a persistent buffer (``positional_encoding_gaussian_matrix``):
    it is part of the state_dict and follows ``.to()`` in device and dtype, and every
    encoding is computed in its dtype.

    Args:
        num_pos_feats (int): Number of random frequencies (half the output channels).
            Defaults to 64.
        scale (float, optional): Standard deviation of G's entries; None or <= 0
            means 1.0. Defaults to None.
    """

    def __init__(self, num_pos_feats: int = 64, scale: Optional[float] = None) -> None:
        super().__init__()
        if scale is None or scale <= 0.0:
            scale = 1.0
        self.register_buffer('positional_encoding_gaussian_matrix', scale * torch.randn(2, num_pos_feats))

    def _encode_unit(self, coords: Tensor) -> Tensor:
        """Encode positions ``coords`` of shape (..., 2) as (x, y) in [0, 1]; returns (..., 2 * num_pos_feats)."""
        frequencies = self.positional_encoding_gaussian_matrix
        phases = (2 * coords - 1) @ frequencies
        phases = phases * (2 * math.pi)
        return torch.cat([torch.sin(phases), torch.cos(phases)], dim=-1)

    def forward(self, size: Tuple[int, int]) -> Tensor:
        """Encode the pixel centres of an ``(h, w)`` grid.

        Pixel (i, j) sits at ((j + 0.5) / w, (i + 0.5) / h).

        Returns:
            Tensor: (2 * num_pos_feats, h, w) in G's device and dtype.
        """
        h, w = size
        frequencies = self.positional_encoding_gaussian_matrix
        ys = (torch.arange(h, device=frequencies.device, dtype=frequencies.dtype) + 0.5) / h
        xs = (torch.arange(w, device=frequencies.device, dtype=frequencies.dtype) + 0.5) / w
        grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        return self._encode_unit(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords: Tensor, image_size: Tuple[int, int]) -> Tensor:
        """Encode pixel positions ``coords`` (B, N, 2) as (x, y) in an image of ``image_size`` (H, W).

        x is divided by W and y by H; the result is cast to G's dtype before encoding.

        Returns:
            Tensor: (B, N, 2 * num_pos_feats).
        """
        height, width = image_size
        unit = torch.stack([coords[..., 0] / width, coords[..., 1] / height], dim=-1)
        return self._encode_unit(unit.to(self.positional_encoding_gaussian_matrix.dtype))


class PromptEncoder(nn.Module):
    """Embed SAM prompts: points and boxes as sparse tokens, a mask as a dense map.

    Every sparse token is a random-Fourier position encoding of its pixel centre
    plus a learned type embedding: ``point_embeddings[0]`` negative point, ``[1]``
    positive point, ``[2]``/``[3]`` box top-left/bottom-right corner. A padding point
    (label -1) is ``not_a_point_embed`` alone. The dense embedding is the mask prompt
    downscaled 4x by ``mask_downscaling``, or ``no_mask_embed`` everywhere when there
    is no mask.

    Args:
        embed_dim (int): Channels of every embedding (even).
        image_embedding_size (tuple[int, int]): (h, w) of the image encoder's output map.
        input_image_size (tuple[int, int]): (H, W) in pixels of the padded image the
            image encoder reads; point and box coordinates are in these pixels.
        mask_in_chans (int): Hidden channels of the mask branch (a multiple of 4).
        act_cfg (dict): Activation between the mask-branch convs. Defaults to GELU.
    """

    def __init__(self,
                 embed_dim: int,
                 image_embedding_size: Tuple[int, int],
                 input_image_size: Tuple[int, int],
                 mask_in_chans: int,
                 act_cfg: ConfigType = dict(type='GELU')) -> None:
        super().__init__()
        if embed_dim % 2:
            raise ValueError(f'embed_dim must be even (half sine, half cosine features); got {embed_dim}.')
        if mask_in_chans % 4:
            raise ValueError(f'mask_in_chans must be a multiple of 4; got {mask_in_chans}.')
        self.embed_dim = embed_dim
        self.image_embedding_size = tuple(image_embedding_size)
        self.input_image_size = tuple(input_image_size)
        self.mask_input_size = tuple(MASK_TO_EMBEDDING_STRIDE * s for s in self.image_embedding_size)
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)

        # SAM's checkpoint keys: ``point_embeddings`` holds box-corner types too (negative point,
        # positive point, box top-left corner, box bottom-right corner).
        self.num_point_embeddings = 4
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(self.num_point_embeddings))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)

        hidden_chans = mask_in_chans // 4
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, hidden_chans, kernel_size=2, stride=2),
            LayerNorm2d(hidden_chans),
            MODELS.build(act_cfg),
            nn.Conv2d(hidden_chans, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            MODELS.build(act_cfg),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> Tensor:
        """Position encoding of every cell of the image embedding, for the mask decoder.

        Returns:
            Tensor: (1, embed_dim, h, w), with (h, w) = ``image_embedding_size``.
        """
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def forward(self,
                points: Optional[Tuple[Tensor, Tensor]] = None,
                boxes: Optional[Tensor] = None,
                masks: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Embed the given prompts; any of them may be None.

        Args:
            points (tuple[Tensor, Tensor], optional): ``(coords, labels)``: coords
                (B, N, 2) as (x, y) pixels of ``input_image_size``; labels (B, N)
                integers, 1 positive, 0 negative, -1 padding (any other value raises;
                the check reads the labels back from their device). Without boxes,
                one padding point is appended (as SAM does).
            boxes (Tensor, optional): (B, 4) or (B, 1, 4) as (x1, y1, x2, y2) pixels.
            masks (Tensor, optional): (B, 1, 4h, 4w) low-res mask logits, with (h, w)
                = ``image_embedding_size``.

        Returns:
            tuple[Tensor, Tensor]: ``sparse`` (B, N', embed_dim) with N' = N (+1 pad
            point when there are points but no boxes) (+2 when there are boxes);
            ``dense`` (B, embed_dim, h, w). B is 1 when no prompt is given.
        """
        batch_size = self._check_batch_size(points, boxes, masks)
        reference = self.point_embeddings[0].weight
        tokens = [reference.new_empty(batch_size, 0, self.embed_dim)]
        if points is not None:
            tokens.append(self._embed_points(*points, pad=boxes is None))
        if boxes is not None:
            tokens.append(self._embed_boxes(boxes))
        sparse = torch.cat(tokens, dim=1)

        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch_size, -1, h, w)
        return sparse, dense

    def _embed_points(self, coords: Tensor, labels: Tensor, pad: bool) -> Tensor:
        """Tokens (B, N (+1 if ``pad``), embed_dim) for points ``coords`` (B, N, 2) with ``labels`` (B, N)."""
        coords = coords + 0.5  # pixel index to pixel centre
        if pad:
            coords = torch.cat([coords, coords.new_zeros(coords.shape[0], 1, 2)], dim=1)
            labels = torch.cat([labels, labels.new_full((labels.shape[0], 1), PADDING_LABEL)], dim=1)
        embedding = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        labels = labels[..., None]
        embedding = torch.where(labels == PADDING_LABEL, self.not_a_point_embed.weight, embedding)
        embedding = embedding + (labels == NEGATIVE_LABEL) * self.point_embeddings[0].weight
        return embedding + (labels == POSITIVE_LABEL) * self.point_embeddings[1].weight

    def _embed_boxes(self, boxes: Tensor) -> Tensor:
        """Tokens (B, 2, embed_dim) for the two corners of ``boxes`` (B, 4) or (B, 1, 4)."""
        corners = (boxes + 0.5).reshape(-1, 2, 2)  # pixel index to pixel centre
        embedding = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        corner_types = torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight])
        return embedding + corner_types

    def _check_batch_size(self, points: Optional[Tuple[Tensor, Tensor]], boxes: Optional[Tensor],
                          masks: Optional[Tensor]) -> int:
        """Validate the prompts' shapes and return their common batch size (1 when there are none)."""
        sizes = {}
        if points is not None:
            if not isinstance(points, (tuple, list)) or len(points) != 2:
                raise TypeError('points must be a (coords, labels) pair of tensors (B, N, 2) and (B, N).')
            coords, labels = points
            if coords.dim() != 3 or coords.shape[-1] != 2:
                raise ValueError(f'point coords must be (B, N, 2) as (x, y) pixels; got {tuple(coords.shape)}.')
            if tuple(labels.shape) != tuple(coords.shape[:2]):
                raise ValueError(f'point labels must be (B, N) = {tuple(coords.shape[:2])} to match the coords; '
                                 f'got {tuple(labels.shape)}.')
            known = (labels == PADDING_LABEL) | (labels == NEGATIVE_LABEL) | (labels == POSITIVE_LABEL)
            if not bool(known.all()):
                raise ValueError(f'point labels must be 1 (positive), 0 (negative) or -1 (padding); '
                                 f'got values {sorted(set(labels.unique().tolist()))}.')
            sizes['points'] = coords.shape[0]
        if boxes is not None:
            if boxes.shape[-1:] != (4,) or boxes.dim() not in (2, 3) or (boxes.dim() == 3 and boxes.shape[1] != 1):
                raise ValueError(f'boxes must be (B, 4) or (B, 1, 4) as (x1, y1, x2, y2) pixels; '
                                 f'got {tuple(boxes.shape)}.')
            sizes['boxes'] = boxes.shape[0]
        if masks is not None:
            expected = (1,) + self.mask_input_size
            if masks.dim() != 4 or tuple(masks.shape[1:]) != expected:
                raise ValueError(f'masks must be (B, 1, {expected[1]}, {expected[2]}) low-res logits, 4x the image '
                                 f'embedding size {self.image_embedding_size}; got {tuple(masks.shape)}.')
            sizes['masks'] = masks.shape[0]
        if len(set(sizes.values())) > 1:
            raise ValueError(f'all prompts must have the same batch size B; got {sizes}.')
        return next(iter(sizes.values()), 1)
