"""``mmcv.ops.multi_scale_deform_attn``: Deformable-DETR's multi-scale deformable attention.

Always the pure PyTorch core (``F.grid_sample``, any device).  Its sampling
is that of mmcv's CUDA kernel: a normalised location ``(x, y)`` in ``[0, 1]``
reads level pixel ``(x * W - 0.5, y * H - 0.5)`` bilinearly with zeros
outside, i.e. ``grid_sample(align_corners=False, padding_mode='zeros')``.
"""
import math
import warnings
from typing import Optional, no_type_check

import mmengine
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule, constant_init, xavier_init
from mmengine.utils import deprecated_api_warning
from torch import Tensor


def multi_scale_deformable_attn_pytorch(value: Tensor, value_spatial_shapes: Tensor,
                                        sampling_locations: Tensor,
                                        attention_weights: Tensor) -> Tensor:
    """Attention-weighted sum of bilinear samples taken from several feature levels.

    Args:
        value (Tensor): (bs, num_keys, num_heads, head_dims), the levels' pixels
            flattened row-major and concatenated level after level.
        value_spatial_shapes (Tensor): (num_levels, 2) ``(h, w)`` of each level.
        sampling_locations (Tensor): (bs, num_queries, num_heads, num_levels, num_points, 2)
            normalised ``(x, y)`` locations, (0, 0) top-left and (1, 1) bottom-right corner.
        attention_weights (Tensor): (bs, num_queries, num_heads, num_levels, num_points).

    Returns:
        Tensor: (bs, num_queries, num_heads * head_dims).
    """
    bs, _, num_heads, head_dims = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    shapes = [(int(h), int(w)) for h, w in value_spatial_shapes.tolist()]
    levels = value.split([h * w for h, w in shapes], dim=1)
    # grid_sample wants (x, y) in [-1, 1]; batch over (bs, heads)
    grids = (2 * sampling_locations - 1).transpose(1, 2).flatten(0, 1)  # (bs*heads, q, L, P, 2)
    samples = []
    for level, (h, w) in enumerate(shapes):
        feature = levels[level].permute(0, 2, 3, 1).reshape(bs * num_heads, head_dims, h, w)
        samples.append(F.grid_sample(feature, grids[:, :, level], mode='bilinear',
                                     padding_mode='zeros', align_corners=False))  # (bs*heads, d, q, P)
    samples = torch.stack(samples, dim=3)  # (bs*heads, d, q, L, P)
    weights = attention_weights.transpose(1, 2).reshape(bs * num_heads, 1, num_queries, num_levels,
                                                        num_points)
    output = (samples * weights).sum(dim=(3, 4))  # (bs*heads, d, q)
    return output.view(bs, num_heads * head_dims, num_queries).transpose(1, 2).contiguous()


class MultiScaleDeformableAttention(BaseModule):
    """Multi-scale deformable attention of Deformable DETR, with mmcv's parameters and forward.

    Args:
        embed_dims (int): embedding dimension.
        num_heads (int): attention heads.
        num_levels (int): feature levels attended to.
        num_points (int): sampling points per query, head and level.
        im2col_step (int): kept for compatibility (mmcv's CUDA kernel batching); unused.
        dropout (float): dropout on the output before the residual.
        batch_first (bool): tensors are (bs, n, embed_dims) rather than (n, bs, embed_dims).
        norm_cfg (dict, optional): kept for compatibility; unused, as in mmcv.
        init_cfg (dict, optional): mmengine init config.
        value_proj_ratio (float): width of ``value_proj`` relative to ``embed_dims``.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 num_levels: int = 4,
                 num_points: int = 4,
                 im2col_step: int = 64,
                 dropout: float = 0.1,
                 batch_first: bool = False,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[mmengine.ConfigDict] = None,
                 value_proj_ratio: float = 1.0) -> None:
        super().__init__(init_cfg)
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims must be divisible by num_heads, '
                             f'but got {embed_dims} and {num_heads}')
        head_dims = embed_dims // num_heads
        if head_dims == 0 or head_dims & (head_dims - 1) != 0:
            warnings.warn("You'd better set embed_dims in MultiScaleDeformAttention to make the "
                          'dimension of each attention head a power of 2 which is more efficient '
                          'in our CUDA implementation.')
        self.norm_cfg = norm_cfg
        self.dropout = nn.Dropout(dropout)
        self.batch_first = batch_first
        self.im2col_step = im2col_step
        self.embed_dims = embed_dims
        self.num_levels = num_levels
        self.num_heads = num_heads
        self.num_points = num_points
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        value_proj_size = int(embed_dims * value_proj_ratio)
        self.value_proj = nn.Linear(embed_dims, value_proj_size)
        self.output_proj = nn.Linear(value_proj_size, embed_dims)
        self.init_weights()

    def init_weights(self) -> None:
        """mmcv's init: offsets start on rays at ``k`` (k = 1..num_points) in each head's direction.

        ``sampling_offsets`` gets zero weight and a bias pointing head ``h`` along angle
        ``2 pi h / num_heads`` (scaled so the larger coordinate is 1), times ``k`` for point
        ``k - 1``; ``attention_weights`` is zeroed; the projections are Xavier-uniform.
        """
        constant_init(self.sampling_offsets, 0.)
        device = next(self.parameters()).device
        angles = torch.arange(self.num_heads, dtype=torch.float32, device=device)
        angles = angles * (2.0 * math.pi / self.num_heads)
        directions = torch.stack([angles.cos(), angles.sin()], -1)
        directions = directions / directions.abs().max(-1, keepdim=True)[0]
        scale = torch.arange(1, self.num_points + 1, dtype=torch.float32, device=device)
        bias = directions[:, None, None, :] * scale[None, None, :, None]  # (heads, 1, points, 2)
        bias = bias.expand(self.num_heads, self.num_levels, self.num_points, 2)
        self.sampling_offsets.bias.data = bias.reshape(-1).clone()
        constant_init(self.attention_weights, val=0., bias=0.)
        xavier_init(self.value_proj, distribution='uniform', bias=0.)
        xavier_init(self.output_proj, distribution='uniform', bias=0.)
        self._is_init = True

    @no_type_check
    @deprecated_api_warning({'residual': 'identity'}, cls_name='MultiScaleDeformableAttention')
    def forward(self,
                query: Tensor,
                key: Optional[Tensor] = None,
                value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None,
                reference_points: Optional[Tensor] = None,
                spatial_shapes: Optional[Tensor] = None,
                level_start_index: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """Attend from each query to points sampled around its reference point on every level.

        Args:
            query (Tensor): (num_query, bs, embed_dims), or (bs, num_query, embed_dims)
                when ``batch_first``.
            key (Tensor, optional): unused (the keys are the sampled values), as in mmcv.
            value (Tensor, optional): (num_key, bs, embed_dims) (batch first likewise);
                defaults to ``query``.
            identity (Tensor, optional): residual added to the output; defaults to ``query``
                (before ``query_pos`` is added).
            query_pos (Tensor, optional): positional encoding added to ``query``.
            key_padding_mask (Tensor, optional): (bs, num_key) bool, True where a value is
                padding (it is zeroed).
            reference_points (Tensor): (bs, num_query, num_levels, 2) normalised ``(x, y)``,
                or (bs, num_query, num_levels, 4) boxes ``(cx, cy, w, h)``.
            spatial_shapes (Tensor): (num_levels, 2) ``(h, w)`` per level.
            level_start_index (Tensor, optional): (num_levels,) start of each level in
                ``value``; unused by the PyTorch core.

        Returns:
            Tensor: same shape as ``query``.
        """
        if value is None:
            value = query
        if identity is None:
            identity = query
        if query_pos is not None:
            query = query + query_pos
        if not self.batch_first:
            query = query.permute(1, 0, 2)
            value = value.permute(1, 0, 2)
        bs, num_query, _ = query.shape
        _, num_value, _ = value.shape
        assert (spatial_shapes[:, 0] * spatial_shapes[:, 1]).sum() == num_value

        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(bs, num_value, self.num_heads, -1)
        offsets = self.sampling_offsets(query).view(bs, num_query, self.num_heads, self.num_levels,
                                                    self.num_points, 2)
        weights = self.attention_weights(query).view(bs, num_query, self.num_heads,
                                                     self.num_levels * self.num_points)
        weights = weights.softmax(-1).view(bs, num_query, self.num_heads, self.num_levels,
                                           self.num_points)
        if reference_points.shape[-1] == 2:
            # offsets are in level pixels: normalise by (w, h)
            normaliser = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
            locations = (reference_points[:, :, None, :, None, :]
                         + offsets / normaliser[None, None, None, :, None, :])
        elif reference_points.shape[-1] == 4:
            # offsets are in units of half the box size, per point
            locations = (reference_points[:, :, None, :, None, :2]
                         + offsets / self.num_points * reference_points[:, :, None, :, None, 2:] * 0.5)
        else:
            raise ValueError(f'Last dim of reference_points must be 2 or 4, '
                             f'but get {reference_points.shape[-1]} instead.')
        output = multi_scale_deformable_attn_pytorch(value, spatial_shapes, locations, weights)
        output = self.output_proj(output)
        if not self.batch_first:
            output = output.permute(1, 0, 2)
        return self.dropout(output) + identity
