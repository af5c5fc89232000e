"""ProPainter's mask-guided sparse video transformer on soft-split tokens.

Tokens of all T frames are cut into (5, 9) windows of the token grid (zero-padded
to window multiples). Windows that a hole touches attend over all frames of a
frame subset (every ``t_dilation``-th frame, alternating between layers): their
own window, the rolled tokens around it and 4x4-pooled global tokens. The other
windows attend within their own window, frame by frame.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.models.layers.soft_split import token_grid_size
from seg.registry import MODELS

IntPair = Tuple[int, int]
FFN_HIDDEN = 1960


def window_partition(x: Tensor, window_size: IntPair, num_heads: int) -> Tensor:
    """(B, T, H, W, C) with H, W window multiples -> (B, H/wh * W/ww, heads, T, wh*ww, C/heads)."""
    b, t, h, w, c = x.shape
    wh, ww = window_size
    x = x.view(b, t, h // wh, wh, w // ww, ww, num_heads, c // num_heads)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, (h // wh) * (w // ww), num_heads, t, wh * ww,
                                                      c // num_heads)


def rolled_token_indices(window_size: IntPair, expand_size: IntPair) -> Tensor:
    """Indices into the four diagonally rolled copies of a window that fall outside the window itself.

    Rolling by (+-e_h, +-e_w) brings neighbouring windows' tokens into a window; of
    each rolled copy only the tokens that came from outside are kept.
    """
    wh, ww = window_size
    eh, ew = expand_size
    keep = []
    for rows, cols in ((slice(None, -eh), slice(None, -ew)), (slice(None, -eh), slice(ew, None)),
                       (slice(eh, None), slice(None, -ew)), (slice(eh, None), slice(ew, None))):
        copy = torch.ones(wh, ww)
        copy[rows, cols] = 0
        keep.append(copy)
    return torch.stack(keep).flatten().nonzero(as_tuple=False).view(-1)


class SparseWindowAttention(nn.Module):
    """Window attention with rolled neighbour tokens and pooled global tokens for windows a hole touches.

    Attribute names follow the official state_dict (``query``, ``key``, ``value``,
    ``proj``, ``pool_layer`` and the buffer ``valid_ind_rolled``).

    Args:
        dim (int): token width C.
        num_heads (int): attention heads.
        window_size (tuple[int, int]): window of the token grid.
        pool_size (tuple[int, int]): kernel and stride of the depthwise pooling to global tokens.
    """

    def __init__(self, dim: int, num_heads: int, window_size: IntPair, pool_size: IntPair) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'token width {dim} must divide into {num_heads} heads')
        self.num_heads = num_heads
        self.window_size = tuple(window_size)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.pool_layer = nn.Conv2d(dim, dim, kernel_size=pool_size, stride=pool_size, groups=dim)
        nn.init.constant_(self.pool_layer.weight, 1.0 / math.prod(pool_size))
        nn.init.zeros_(self.pool_layer.bias)
        self.expand_size = tuple((size + 1) // 2 for size in self.window_size)
        self.register_buffer('valid_ind_rolled', rolled_token_indices(self.window_size, self.expand_size))

    def forward(self, x: Tensor, mask: Tensor, frame_subset: Tensor) -> Tensor:
        """Attend.

        Args:
            x (Tensor): (B, T, h, w, C) normalised tokens.
            mask (Tensor): (B, T_m, h, w, 1) hole mask on the token grid (max-pooled); a
                window is masked when any of the T_m frames has a hole in it.
            frame_subset (Tensor): (T',) indices of the frames masked windows attend to.

        Returns:
            Tensor: (B, T, h, w, C) attention output after the projection.
        """
        b, t, h, w, c = x.shape
        wh, ww = self.window_size
        rows, cols = math.ceil(h / wh), math.ceil(w / ww)
        padded_h, padded_w = rows * wh, cols * ww
        x = F.pad(x, (0, 0, 0, padded_w - w, 0, padded_h - h))
        mask = F.pad(mask, (0, 0, 0, padded_w - w, 0, padded_h - h))
        num_windows, area, head_dim = rows * cols, wh * ww, c // self.num_heads

        def windows(a: Tensor) -> Tensor:
            return window_partition(a, self.window_size, self.num_heads)

        q, k, v = self.query(x), self.key(x), self.value(x)
        win_q = windows(q)
        keys, values = [windows(k)], [windows(v)]
        eh, ew = self.expand_size
        shifts = ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))
        for source, out in ((k, keys), (v, values)):
            rolled = torch.cat([windows(torch.roll(source, shifts=s, dims=(2, 3))) for s in shifts], dim=4)
            out.append(rolled[:, :, :, :, self.valid_ind_rolled])
        pooled = self.pool_layer(x.reshape(b * t, padded_h, padded_w, c).permute(0, 3, 1, 2))
        pool_h, pool_w = pooled.shape[-2:]
        pooled = pooled.permute(0, 2, 3, 1).reshape(b, t, pool_h, pool_w, c)
        for proj, out in ((self.key, keys), (self.value, values)):
            tokens = proj(pooled).view(b, 1, t, pool_h * pool_w, self.num_heads, head_dim).permute(0, 1, 4, 2, 3, 5)
            out.append(tokens.expand(b, num_windows, self.num_heads, t, pool_h * pool_w, head_dim))
        win_k, win_v = torch.cat(keys, dim=4), torch.cat(values, dim=4)

        masked_frames = mask.shape[1]
        window_mask = F.max_pool2d(mask.reshape(b * masked_frames, padded_h, padded_w), self.window_size,
                                   self.window_size)
        window_mask = window_mask.view(b, masked_frames, num_windows).sum(dim=1)
        scale = 1.0 / math.sqrt(head_dim)
        out = torch.zeros_like(win_q)
        for i in range(b):
            masked = window_mask[i].nonzero(as_tuple=False).view(-1)
            if len(masked) > 0:
                query = win_q[i, masked].reshape(len(masked), self.num_heads, t * area, head_dim)
                key = win_k[i, masked][:, :, frame_subset].reshape(len(masked), self.num_heads, -1, head_dim)
                value = win_v[i, masked][:, :, frame_subset].reshape(len(masked), self.num_heads, -1, head_dim)
                attn = torch.softmax((query @ key.transpose(-2, -1)) * scale, dim=-1)
                out[i, masked] = (attn @ value).view(-1, self.num_heads, t, area, head_dim)
            unmasked = (window_mask[i] == 0).nonzero(as_tuple=False).view(-1)
            query = win_q[i, unmasked]
            key, value = win_k[i, unmasked, :, :, :area], win_v[i, unmasked, :, :, :area]
            attn = torch.softmax((query @ key.transpose(-2, -1)) * scale, dim=-1)
            out[i, unmasked] = attn @ value

        out = out.view(b, rows, cols, self.num_heads, t, wh, ww, head_dim)
        out = out.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, t, padded_h, padded_w, c)
        return self.proj(out[:, :, :h, :w])


class FusionFeedForward(nn.Module):
    """Token MLP whose hidden activations are folded onto the feature map, averaged over overlaps and cut again.

    Attribute names follow ProPainter's state_dict (``fc1.0``, ``fc2.1``).

    Args:
        dim (int): token width C.
        kernel_size, stride, padding (tuple[int, int]): the soft split's patch geometry.
        hidden (int): hidden width, a multiple of the patch area.
    """

    def __init__(self, dim: int, kernel_size: IntPair, stride: IntPair, padding: IntPair,
                 hidden: int = FFN_HIDDEN) -> None:
        super().__init__()
        self.geometry = dict(kernel_size=tuple(kernel_size), stride=tuple(stride), padding=tuple(padding))
        if hidden % math.prod(kernel_size):
            raise ValueError(f'FFN hidden width {hidden} must be a multiple of the patch area {math.prod(kernel_size)}')
        self.fc1 = nn.Sequential(nn.Linear(dim, hidden))
        self.fc2 = nn.Sequential(nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, output_size: IntPair) -> Tensor:
        """(B, T*h*w, C) tokens of (H, W) = ``output_size`` feature maps -> (B, T*h*w, C)."""
        x = self.fc1(x)
        b, n, c = x.shape
        grid = token_grid_size(output_size, **self.geometry)
        num_patches = grid[0] * grid[1]
        patch_area = math.prod(self.geometry['kernel_size'])
        folded = F.fold(x.view(-1, num_patches, c).permute(0, 2, 1), output_size, **self.geometry)
        overlap = F.fold(x.new_ones(1, patch_area, num_patches), output_size, **self.geometry)
        x = F.unfold(folded / overlap, **self.geometry).permute(0, 2, 1).reshape(b, n, c)
        return self.fc2(x)


class TemporalSparseTransformerLayer(nn.Module):
    """Pre-norm layer: sparse window attention, then the fusion feed-forward, each residual.

    Attribute names follow the official state_dict (``attention``, ``norm1``, ``norm2``, ``mlp``).
    """

    def __init__(self, dim: int, num_heads: int, window_size: IntPair, pool_size: IntPair, kernel_size: IntPair,
                 stride: IntPair, padding: IntPair) -> None:
        super().__init__()
        self.attention = SparseWindowAttention(dim, num_heads, window_size, pool_size)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim, kernel_size, stride, padding)

    def forward(self, x: Tensor, output_size: IntPair, mask: Tensor, frame_subset: Tensor) -> Tensor:
        """(B, T, h, w, C) tokens -> (B, T, h, w, C); see :meth:`SparseWindowAttention.forward`."""
        b, t, h, w, c = x.shape
        x = x + self.attention(self.norm1(x), mask, frame_subset)
        return x + self.mlp(self.norm2(x).view(b, t * h * w, c), output_size).view(b, t, h, w, c)


@MODELS.register_module()
class TemporalSparseTransformer(nn.Module):
    """A stack of :class:`TemporalSparseTransformerLayer` s with temporally dilated frame subsets.

    With ``t_dilation`` d, layer i lets masked windows attend to frames
    ``i mod d, i mod d + d, ...``. Attribute names follow the official state_dict
    (``transformer.<i>``).

    Args:
        dim (int): token width C.
        num_heads (int): attention heads.
        window_size (tuple[int, int]): attention window of the token grid.
        pool_size (tuple[int, int]): pooling of the global tokens.
        depth (int): number of layers.
        kernel_size, stride, padding (tuple[int, int]): the soft split's patch geometry.
    """

    def __init__(self, dim: int = 512, num_heads: int = 4, window_size: IntPair = (5, 9),
                 pool_size: IntPair = (4, 4), depth: int = 8, kernel_size: IntPair = (7, 7),
                 stride: IntPair = (3, 3), padding: IntPair = (3, 3)) -> None:
        super().__init__()
        self.transformer = nn.Sequential(*[
            TemporalSparseTransformerLayer(dim, num_heads, window_size, pool_size, kernel_size, stride, padding)
            for _ in range(depth)])

    def frame_subsets(self, num_frames: int, t_dilation: int, device: Optional[torch.device] = None) -> List[Tensor]:
        """The frame indices each layer's masked windows attend to."""
        depth = len(self.transformer)
        if t_dilation < 1 or depth % t_dilation:
            raise ValueError(f't_dilation must be a positive divisor of the depth {depth}; got {t_dilation}')
        subsets: Sequence[Tensor] = [torch.arange(start, num_frames, t_dilation, device=device)
                                     for start in range(t_dilation)]
        return [subsets[i % t_dilation] for i in range(depth)]

    def forward(self, tokens: Tensor, output_size: IntPair, mask: Tensor, t_dilation: int = 2) -> Tensor:
        """Transform tokens.

        Args:
            tokens (Tensor): (B, T, h, w, C) token grid.
            output_size (tuple[int, int]): (H, W) of the feature maps the tokens were cut from.
            mask (Tensor): (B, T_m, h, w, 1) hole mask on the token grid.
            t_dilation (int): temporal dilation of the masked windows' frame subsets.

        Returns:
            Tensor: (B, T, h, w, C) tokens.
        """
        for layer, subset in zip(self.transformer, self.frame_subsets(tokens.shape[1], t_dilation, tokens.device)):
            tokens = layer(tokens, output_size, mask, subset)
        return tokens
