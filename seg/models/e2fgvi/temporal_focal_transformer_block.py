"""Temporal focal transformer block of E2FGVI: window attention over space-time tokens plus a fusion FFN.

Tokens come from :class:`~seg.models.layers.soft_split.SoftSplit`
as a (B, T, h, w, C) grid. Each block attends, for every (window_size) window
and all T frames at once, to (1) the window's own tokens, (2) the tokens of the
surrounding expanded window gathered by rolling the map by half a window, and
(3) one pooled level: every window summarised to one token by a learned linear
pooling, with the ``focal_window`` neighbourhood of summaries around the window.
The feed-forward part folds the token grid back onto the feature map, so that
overlapping patches exchange information (FuseFormer's F3N). The feature size
is an argument of ``forward``, so one block serves E2FGVI (always 60x108) and
E2FGVI-HQ (any size whose token grid the windows tile).
"""
import math
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from seg.registry import MODELS

from seg.models.layers.soft_split import token_grid_size

IntPair = Tuple[int, int]
# Width of the fusion feed-forward layer (40 channels per 7x7 patch position).
FFN_HIDDEN = 1960
# Additive attention bias for pooled tokens that fall outside the map.
OUTSIDE_MAP_BIAS = -100.0


def window_partition(x: Tensor, window_size: IntPair) -> Tensor:
    """(B, T, H, W, C) -> (B*nW, T, wh*ww, C) windows, batch-major then row-major over windows."""
    b, t, h, w, c = x.shape
    wh, ww = window_size
    windows = x.view(b, t, h // wh, wh, w // ww, ww, c).permute(0, 2, 4, 1, 3, 5, 6).contiguous()
    return windows.view(-1, t, wh * ww, c)


def window_reverse(windows: Tensor, window_size: IntPair, height: int, width: int) -> Tensor:
    """(B*nW, T, wh*ww, C) windows -> (B, T, H, W, C), the inverse of :func:`window_partition`."""
    wh, ww = window_size
    t, c = windows.shape[1], windows.shape[-1]
    b = windows.shape[0] // ((height // wh) * (width // ww))
    x = windows.view(b, height // wh, width // ww, t, wh, ww, c).permute(0, 3, 1, 4, 2, 5, 6).contiguous()
    return x.view(b, t, height, width, c)


class TemporalFocalWindowAttention(nn.Module):
    """Multi-head attention of each space-time window to its window, its surroundings and pooled windows.

    Attribute names follow the official state_dict (``valid_ind_rolled``, ``qkv``, ``proj``).

    Args:
        dim (int): token width C.
        num_heads (int): attention heads; C must divide by it.
        window_size (tuple[int, int]): (wh, ww) window of the token grid, both >= 2.
        focal_window (tuple[int, int]): odd (fh, fw) neighbourhood of pooled windows.
        qkv_bias (bool): whether ``qkv`` has a bias.
    """

    def __init__(self, dim: int, num_heads: int, window_size: IntPair, focal_window: IntPair,
                 qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'token width {dim} must divide by num_heads={num_heads}')
        if min(window_size) < 2 or any(size % 2 == 0 for size in focal_window):
            raise ValueError(f'window_size {window_size} must be >= 2 and focal_window {focal_window} odd')
        self.num_heads = num_heads
        self.window_size, self.focal_window = tuple(window_size), tuple(focal_window)
        self.expand_size = tuple(size // 2 for size in window_size)
        self.scale = (dim // num_heads) ** -0.5
        self.register_buffer('valid_ind_rolled', self._rolled_indices(self.window_size, self.expand_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    @staticmethod
    def _rolled_indices(window_size: IntPair, expand_size: IntPair) -> Tensor:
        """Flat indices, into the four rolled copies of a window concatenated, of the tokens outside the window.

        The copies are shifted by half a window towards the top-left, top-right,
        bottom-left and bottom-right, in that order.
        """
        wh, ww = window_size
        eh, ew = expand_size
        masks = []
        for rows, cols in ((slice(None, -eh), slice(None, -ew)), (slice(None, -eh), slice(ew, None)),
                           (slice(eh, None), slice(None, -ew)), (slice(eh, None), slice(ew, None))):
            mask = torch.ones(wh, ww)
            mask[rows, cols] = 0
            masks.append(mask)
        return torch.stack(masks).flatten().nonzero(as_tuple=False).view(-1)

    def surrounding_indices(self, height: int, width: int) -> Tensor:
        """Flat (row * width + col) token indices of each window's surroundings, (nW, len(valid_ind_rolled)).

        The official code rolls the map by (+-eh, +-ew) (``torch.roll`` over H, W),
        cuts each rolled map into windows, concatenates the four and keeps
        ``valid_ind_rolled``; gathering these indices yields the same tokens in the
        same order without copying four rolled maps.
        """
        wh, ww = self.window_size
        eh, ew = self.expand_size
        device = self.valid_ind_rolled.device
        rows = torch.arange(height, device=device).view(height // wh, 1, wh, 1)
        cols = torch.arange(width, device=device).view(1, width // ww, 1, ww)
        shifted = [((rows - shift_h) % height) * width + (cols - shift_w) % width
                   for shift_h, shift_w in ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))]
        per_window = torch.cat([index.reshape(-1, wh * ww) for index in shifted], dim=1)
        return per_window[:, self.valid_ind_rolled]

    def _split_heads(self, windows: Tensor) -> Tensor:
        """(N, T, n, C) -> (N, heads, T*n, C/heads)."""
        n, t, length, c = windows.shape
        heads = windows.view(n, t, length, self.num_heads, c // self.num_heads).permute(0, 3, 1, 2, 4).contiguous()
        return heads.view(n, self.num_heads, t * length, c // self.num_heads)

    def forward(self, x: Tensor, pooled: Tensor) -> Tensor:
        """Attend within and around windows.

        Args:
            x (Tensor): (B, T, H, W, C) normalised tokens, H and W multiples of the window.
            pooled (Tensor): (B, H/wh, W/ww, T, C) one pooled token per window and frame.

        Returns:
            Tensor: (B*nW, T*wh*ww, C) attended tokens per window.
        """
        b, t, h, w, c = x.shape
        head_dim = c // self.num_heads
        qkv = self.qkv(x).reshape(b, t, h, w, 3, c).permute(4, 0, 1, 2, 3, 5).contiguous()
        q, k, v = qkv[0], qkv[1], qkv[2]
        q_windows = self._split_heads(window_partition(q, self.window_size))
        keys = [self._split_heads(window_partition(k, self.window_size))]
        values = [self._split_heads(window_partition(v, self.window_size))]

        # Surroundings: tokens of the four half-window rolls that fall outside the window.
        surrounding = self.surrounding_indices(h, w)
        num_windows, num_surrounding = surrounding.shape
        for source, gathered in ((k, keys), (v, values)):
            near = source.reshape(b, t, h * w, c)[:, :, surrounding.flatten()]
            near = near.view(b, t, num_windows, num_surrounding, self.num_heads, head_dim)
            near = near.permute(0, 2, 4, 1, 3, 5).reshape(b * num_windows, self.num_heads, -1, head_dim)
            gathered.append(near)
        num_near = sum(key.shape[2] for key in keys)

        # Pooled level: the focal_window neighbourhood of window summaries (zero-padded at the border).
        pooled = pooled.permute(0, 3, 1, 2, 4).contiguous()
        n_rows, n_cols = pooled.shape[2:4]
        kernel = self.focal_window
        padding = tuple(size // 2 for size in kernel)
        kernel_area = kernel[0] * kernel[1]
        inside = F.unfold(pooled.new_ones(t, 1, n_rows, n_cols), kernel, padding=padding)
        inside = inside.view(t, kernel_area, -1).permute(2, 0, 1).reshape(n_rows * n_cols, t * kernel_area)
        pooled_bias = torch.zeros_like(inside).masked_fill(inside == 0, OUTSIDE_MAP_BIAS)
        qkv_pooled = self.qkv(pooled).reshape(b, t, n_rows, n_cols, 3, c).permute(4, 0, 1, 5, 2, 3)
        qkv_pooled = qkv_pooled.reshape(3, b * t, c, n_rows, n_cols)
        for source, gathered in ((qkv_pooled[1], keys), (qkv_pooled[2], values)):
            neighbours = F.unfold(source, kernel, padding=padding).view(b, t, c, kernel_area, -1)
            neighbours = neighbours.permute(0, 4, 1, 3, 2).contiguous().view(-1, t, kernel_area, c)
            gathered.append(self._split_heads(neighbours))

        attn = (q_windows * self.scale) @ torch.cat(keys, dim=2).transpose(-2, -1)
        attn[..., num_near:] = attn[..., num_near:] + pooled_bias.repeat(b, 1)[:, None, None, :]
        out = attn.softmax(dim=-1) @ torch.cat(values, dim=2)
        out = out.transpose(1, 2).reshape(out.shape[0], -1, c)
        return self.proj(out)


class FusionFeedForward(nn.Module):
    """Token MLP whose hidden activations are folded onto the feature map and cut again (FuseFormer's F3N).

    Folding sums the overlapping patches; dividing by the overlap count averages
    them. Attribute names follow the official state_dict (``conv1.0``, ``conv2.1``).

    Args:
        dim (int): token width C.
        kernel_size, stride, padding (tuple[int, int]): the soft split's patch geometry.
        hidden (int): hidden width, a multiple of the patch area.
    """

    def __init__(self, dim: int, kernel_size: IntPair, stride: IntPair, padding: IntPair,
                 hidden: int = FFN_HIDDEN) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = tuple(kernel_size), tuple(stride), tuple(padding)
        if hidden % math.prod(self.kernel_size):
            raise ValueError(f'FFN hidden width {hidden} must be a multiple of the patch area '
                             f'{math.prod(self.kernel_size)}')
        self.conv1 = nn.Sequential(nn.Linear(dim, hidden))
        self.conv2 = nn.Sequential(nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, output_size: IntPair) -> Tensor:
        """(B, T*h*w, C) tokens of (H, W) = ``output_size`` feature maps -> (B, T*h*w, C)."""
        x = self.conv1(x)
        b, n, c = x.shape
        grid = token_grid_size(output_size, self.kernel_size, self.stride, self.padding)
        num_patches = grid[0] * grid[1]
        geometry = dict(kernel_size=self.kernel_size, padding=self.padding, stride=self.stride)
        folded = F.fold(x.view(-1, num_patches, c).permute(0, 2, 1), output_size, **geometry)
        overlap = F.fold(x.new_ones(1, math.prod(self.kernel_size), num_patches), output_size, **geometry)
        x = F.unfold(folded / overlap, **geometry).permute(0, 2, 1).contiguous().view(b, n, c)
        return self.conv2(x)


@MODELS.register_module()
class TemporalFocalTransformerBlock(nn.Module):
    """Pre-norm block: temporal focal window attention, then the fusion feed-forward, each residual.

    Attribute names follow the official state_dict (``pool_layers.0``, ``norm1``,
    ``attn``, ``norm2``, ``mlp``).

    Args:
        dim (int): token width C.
        num_heads (int): attention heads.
        kernel_size, stride, padding (tuple[int, int]): the soft split's patch geometry (for the FFN fold).
        window_size (tuple[int, int]): attention window of the token grid.
        focal_window (tuple[int, int]): odd neighbourhood of pooled windows.
        qkv_bias (bool): whether the qkv projection has a bias.
    """

    def __init__(self, dim: int, num_heads: int, kernel_size: IntPair, stride: IntPair, padding: IntPair,
                 window_size: IntPair = (5, 9), focal_window: IntPair = (5, 9), qkv_bias: bool = True) -> None:
        super().__init__()
        self.window_size = tuple(window_size)
        window_area = self.window_size[0] * self.window_size[1]
        # One learned pooling (a weighted mean over the window's tokens) per pooled level.
        self.pool_layers = nn.ModuleList([nn.Linear(window_area, 1)])
        nn.init.constant_(self.pool_layers[0].weight, 1.0 / window_area)
        nn.init.zeros_(self.pool_layers[0].bias)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = TemporalFocalWindowAttention(dim, num_heads, self.window_size, focal_window, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim, kernel_size, stride, padding)

    def forward(self, tokens: Tensor, output_size: IntPair) -> Tensor:
        """Transform tokens.

        Args:
            tokens (Tensor): (B, T, h, w, C) token grid; h, w multiples of ``window_size``.
            output_size (tuple[int, int]): (H, W) of the feature maps the tokens were cut from.

        Returns:
            Tensor: (B, T, h, w, C) tokens.
        """
        b, t, h, w, c = tokens.shape
        wh, ww = self.window_size
        if h % wh or w % ww:
            raise ValueError(f'token grid {h}x{w} must divide into {wh}x{ww} windows; pad the frames so that '
                             'the features tile evenly (E2FGVI-HQ: frame sizes divisible by (60, 108))')
        x = self.norm1(tokens)
        windows = x.view(b, t, h // wh, wh, w // ww, ww, c).permute(0, 2, 4, 1, 3, 5, 6).contiguous()
        windows = windows.view(b, h // wh, w // ww, t, wh * ww, c).transpose(4, 5)
        pooled = self.pool_layers[0](windows).flatten(-2)
        attended = self.attn(x, pooled).view(-1, t, wh * ww, c)
        tokens = tokens + window_reverse(attended, self.window_size, h, w)
        ffn = self.mlp(self.norm2(tokens).view(b, t * h * w, c), output_size)
        return tokens + ffn.view(b, t, h, w, c)
