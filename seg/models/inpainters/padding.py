"""Mirror padding of frames up to a size multiple, as E2FGVI-HQ's official test script pads its clips."""
from typing import Tuple

import torch
from torch import Tensor


def _mirror_pad_dim(frames: Tensor, dim: int, multiple: int) -> Tensor:
    """Extend ``frames`` along ``dim`` to the next multiple by appending its mirror image."""
    size = frames.shape[dim]
    target = size + (multiple - size % multiple) % multiple
    padded = frames
    while padded.shape[dim] < target:
        padded = torch.cat([padded, padded.flip(dim)], dim=dim)
    return padded.narrow(dim, 0, target)


def mirror_pad_to_multiple(frames: Tensor, multiple: Tuple[int, int]) -> Tensor:
    """Pad the last two dims up to multiples of ``multiple`` with a mirror that repeats the edge.

    The clip flipped along H is appended and the first ``h + h_pad`` rows are
    kept (``h_pad = (m_h - h % m_h) % m_h``), then the same along W: a symmetric
    extension (``... c b a | a b c ...``) that keeps the original at the top-left,
    so a prediction is cropped back with ``[..., :h, :w]``. A pad longer than the
    clip repeats the mirroring (``a b c | c b a | a b c ...``), where the official
    script would come up short.

    Args:
        frames (Tensor): (..., H, W) frames, e.g. (B, T, 3, H, W) masked frames in [-1, 1].
        multiple (tuple[int, int]): (m_h, m_w), e.g. E2FGVI-HQ's (60, 108).

    Returns:
        Tensor: (..., H + h_pad, W + w_pad) padded frames.
    """
    if frames.dim() < 2 or frames.shape[-2] == 0 or frames.shape[-1] == 0:
        raise ValueError(f'mirror_pad_to_multiple needs non-empty (..., H, W) frames; got {tuple(frames.shape)}')
    if len(multiple) != 2 or min(multiple) < 1:
        raise ValueError(f'multiple must be two positive ints (m_h, m_w); got {multiple}')
    return _mirror_pad_dim(_mirror_pad_dim(frames, -2, int(multiple[0])), -1, int(multiple[1]))
