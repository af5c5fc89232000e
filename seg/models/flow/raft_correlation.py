"""RAFT's all-pairs correlation pyramid and its local look-up around flow targets.

The correlation of every 1/8-resolution feature vector of image 1 with every one
of image 2 is computed once per image pair, divided by sqrt(channels), and
average-pooled over the image-2 axes into ``num_levels`` levels. Each refinement
iteration then samples, at every level, a (2r+1)x(2r+1) window centred on the
current target coordinates (scaled to that level), bilinearly and with zeros
outside the volume.
"""
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor

#: Levels of the pooled correlation pyramid (each halves the image-2 axes).
NUM_LEVELS = 4


class CorrelationPyramid:
    """All-pairs correlation of two feature maps, pooled into levels, looked up around coordinates.

    Holds no learned state; one instance lives for one RAFT forward pass. Its
    memory is (h*w)^2 floats per image pair for the first level (h, w the
    1/8-resolution feature size), about 4/3 of that for all levels.

    Args:
        fmap1 (Tensor): (N, C, h, w) features of image 1.
        fmap2 (Tensor): (N, C, h, w) features of image 2.
        num_levels (int): pyramid levels. The coarsest has h / 2^(num_levels-1)
            rows, which must be at least 2 (the bilinear look-up normalises by
            size - 1).
        radius (int): look-up radius r in pixels of each level.
    """

    def __init__(self, fmap1: Tensor, fmap2: Tensor, num_levels: int = NUM_LEVELS, radius: int = 4) -> None:
        self.num_levels = num_levels
        self.radius = radius
        n, channels, h, w = fmap1.shape
        corr = torch.matmul(fmap1.view(n, channels, h * w).transpose(1, 2), fmap2.view(n, channels, h * w))
        corr = corr / torch.sqrt(torch.tensor(channels).float())
        # One single-channel image-2 map per image-1 position.
        corr = corr.reshape(n * h * w, 1, h, w)
        self.levels: List[Tensor] = [corr]
        for _ in range(num_levels - 1):
            corr = F.avg_pool2d(corr, 2, stride=2)
            self.levels.append(corr)

    @property
    def num_channels(self) -> int:
        """Channels of a look-up: ``num_levels * (2r+1)^2``."""
        return self.num_levels * (2 * self.radius + 1) ** 2

    def __call__(self, coords: Tensor) -> Tensor:
        """Sample the pyramid around target coordinates.

        Args:
            coords (Tensor): (N, 2, h, w) target positions in image 2, in pixels of
                the 1/8 grid, channel 0 = x, 1 = y.

        Returns:
            Tensor: (N, num_levels*(2r+1)^2, h, w) float32 correlations; per level,
            channel ``i*(2r+1) + j`` is sampled at (x + i - r, y + j - r) (the
            first window axis moves x, as in the official look-up).
        """
        n, _, h, w = coords.shape
        size = 2 * self.radius + 1
        offsets = torch.linspace(-self.radius, self.radius, size).to(coords.device)
        window = torch.stack(torch.meshgrid(offsets, offsets, indexing='ij'), dim=-1).view(1, size, size, 2)
        centres = coords.permute(0, 2, 3, 1).reshape(n * h * w, 1, 1, 2)
        sampled = []
        for level, corr in enumerate(self.levels):
            points = centres / 2 ** level + window
            sampled.append(sample_pixels(corr, points).view(n, h, w, -1))
        return torch.cat(sampled, dim=-1).permute(0, 3, 1, 2).contiguous().float()


def sample_pixels(image: Tensor, points: Tensor) -> Tensor:
    """Bilinear samples of ``image`` (M, C, H, W) at pixel positions ``points`` (M, h, w, 2) (x, y).

    Pixel centres sit at integer positions (``align_corners=True``); samples
    outside the image read zeros. Returns (M, C, h, w).
    """
    height, width = image.shape[-2:]
    x, y = points.split([1, 1], dim=-1)
    grid = torch.cat([2 * x / (width - 1) - 1, 2 * y / (height - 1) - 1], dim=-1)
    return F.grid_sample(image, grid, align_corners=True)
