"""``mmcv.ops.carafe``: CARAFE content-aware upsampling in PyTorch (``F.unfold``).

Output pixel ``(y, x)`` of channel ``c`` (group ``g = c // (C / group_size)``)
is ``sum_{i,j} f[c, y // s + i - r, x // s + j - r] * m[g * k * k + i * k + j, y, x]``
with ``r = (k - 1) / 2``, ``s`` the scale factor and features outside the map
read as 0 -- mmcv's kernels (``carafe`` and ``carafe_naive`` compute the same).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import normal_init, xavier_init
from torch import Tensor


def _check(features: Tensor, masks: Tensor, kernel_size: int, group_size: int,
           scale_factor: int) -> None:
    """mmcv's argument checks for :func:`carafe`."""
    assert scale_factor >= 1
    assert masks.size(1) == kernel_size * kernel_size * group_size
    assert masks.size(-1) == features.size(-1) * scale_factor
    assert masks.size(-2) == features.size(-2) * scale_factor
    assert features.size(1) % group_size == 0
    assert (kernel_size - 1) % 2 == 0 and kernel_size >= 1


def carafe(features: Tensor, masks: Tensor, kernel_size: int, group_size: int,
           scale_factor: int) -> Tensor:
    """Reassemble each upsampled pixel as a mask-weighted sum of its source neighbourhood.

    Args:
        features (Tensor): (N, C, H, W) features.
        masks (Tensor): (N, group_size * kernel_size**2, H * s, W * s) reassembly kernels,
            channel ``g * k * k + i * k + j`` weighting neighbour ``(i, j)`` for channel group ``g``.
        kernel_size (int): odd reassembly kernel size ``k``.
        group_size (int): channel groups sharing a kernel.
        scale_factor (int): upsampling factor ``s``.

    Returns:
        Tensor: (N, C, H * s, W * s) upsampled features.
    """
    _check(features, masks, kernel_size, group_size, scale_factor)
    n, channels, height, width = features.shape
    k2, s = kernel_size * kernel_size, scale_factor
    neighbours = F.unfold(features, kernel_size, padding=(kernel_size - 1) // 2)
    neighbours = neighbours.view(n, group_size, channels // group_size, k2, height, width)
    kernels = masks.reshape(n, group_size, k2, height, s, width, s)
    out = torch.einsum('ngckhw,ngkhawb->ngchawb', neighbours, kernels)
    return out.reshape(n, channels, height * s, width * s)


#: mmcv's naive kernel computes the same function as its fast one.
carafe_naive = carafe


class _CARAFEModule(nn.Module):
    """CARAFE with fixed hyper-parameters; the base of :class:`CARAFE` and :class:`CARAFENaive`."""

    def __init__(self, kernel_size: int, group_size: int, scale_factor: int) -> None:
        super().__init__()
        assert isinstance(kernel_size, int) and isinstance(group_size, int) and isinstance(scale_factor, int)
        self.kernel_size = kernel_size
        self.group_size = group_size
        self.scale_factor = scale_factor

    def forward(self, features: Tensor, masks: Tensor) -> Tensor:
        """Upsample ``features`` with reassembly kernels ``masks``.

        Args:
            features (Tensor): (N, C, H, W) features.
            masks (Tensor): (N, group_size * kernel_size**2, H * s, W * s) kernels.

        Returns:
            Tensor: (N, C, H * s, W * s) upsampled features.
        """
        return carafe(features, masks, self.kernel_size, self.group_size, self.scale_factor)


class CARAFENaive(_CARAFEModule):
    """Module form of :func:`carafe_naive` (mmcv's reference kernel; the same computation here).

    Args:
        kernel_size (int): odd reassembly kernel size.
        group_size (int): channel groups sharing a kernel.
        scale_factor (int): upsampling factor.
    """


class CARAFE(_CARAFEModule):
    """CARAFE: Content-Aware ReAssembly of FEatures (https://arxiv.org/abs/1905.02188).

    Args:
        kernel_size (int): odd reassembly kernel size.
        group_size (int): channel groups sharing a kernel.
        scale_factor (int): upsampling factor.
    """


class CARAFEPack(nn.Module):
    """CARAFE upsampler: channel compressor, content encoder, then CARAFE (registered as ``carafe``).

    Args:
        channels (int): input channels.
        scale_factor (int): upsampling factor.
        up_kernel (int): reassembly kernel size.
        up_group (int): reassembly channel groups.
        encoder_kernel (int): content encoder kernel size.
        encoder_dilation (int): content encoder dilation.
        compressed_channels (int): channels after the 1x1 compressor.
    """

    def __init__(self,
                 channels: int,
                 scale_factor: int,
                 up_kernel: int = 5,
                 up_group: int = 1,
                 encoder_kernel: int = 3,
                 encoder_dilation: int = 1,
                 compressed_channels: int = 64) -> None:
        super().__init__()
        self.channels = channels
        self.scale_factor = scale_factor
        self.up_kernel = up_kernel
        self.up_group = up_group
        self.encoder_kernel = encoder_kernel
        self.encoder_dilation = encoder_dilation
        self.compressed_channels = compressed_channels
        self.channel_compressor = nn.Conv2d(channels, self.compressed_channels, 1)
        self.content_encoder = nn.Conv2d(
            self.compressed_channels,
            self.up_kernel * self.up_kernel * self.up_group * self.scale_factor * self.scale_factor,
            self.encoder_kernel,
            padding=int((self.encoder_kernel - 1) * self.encoder_dilation / 2),
            dilation=self.encoder_dilation,
            groups=1)
        self.init_weights()

    def init_weights(self) -> None:
        """Xavier-uniform convolutions, then ``content_encoder`` weights ~ N(0, 0.001)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution='uniform')
        normal_init(self.content_encoder, std=0.001)

    def kernel_normalizer(self, mask: Tensor) -> Tensor:
        """Rearrange encoder output to per-pixel kernels and softmax each over its k*k taps.

        Args:
            mask (Tensor): (N, up_group * up_kernel**2 * s**2, H, W) encoder output.

        Returns:
            Tensor: (N, up_group * up_kernel**2, H * s, W * s) normalised kernels.
        """
        mask = F.pixel_shuffle(mask, self.scale_factor)
        n, mask_c, h, w = mask.size()
        mask = mask.view(n, mask_c // (self.up_kernel**2), -1, h, w)
        mask = F.softmax(mask, dim=2, dtype=mask.dtype)
        return mask.view(n, mask_c, h, w).contiguous()

    def feature_reassemble(self, x: Tensor, mask: Tensor) -> Tensor:
        """Apply :func:`carafe` to ``x`` with the normalised kernels ``mask``.

        Args:
            x (Tensor): (N, C, H, W) features.
            mask (Tensor): (N, up_group * up_kernel**2, H * s, W * s) kernels.

        Returns:
            Tensor: (N, C, H * s, W * s) upsampled features.
        """
        return carafe(x, mask, self.up_kernel, self.up_group, self.scale_factor)

    def forward(self, x: Tensor) -> Tensor:
        """Upsample ``x`` by ``scale_factor`` with content-predicted kernels.

        Args:
            x (Tensor): (N, C, H, W) features.

        Returns:
            Tensor: (N, C, H * s, W * s) upsampled features.
        """
        mask = self.kernel_normalizer(self.content_encoder(self.channel_compressor(x)))
        return self.feature_reassemble(x, mask)
