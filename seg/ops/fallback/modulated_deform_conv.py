"""``mmcv.ops.modulated_deform_conv``: DCNv2 (``ModulatedDeformConv2d`` and its ``Pack``).

Runs on ``torchvision.ops.deform_conv2d`` with a mask (or the ``grid_sample``
path), see :mod:`.deform_conv`.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.utils import deprecated_api_warning
from torch import Tensor
from torch.nn.modules.utils import _pair, _single

from .deform_conv import deformable_conv2d, offset_conv, rename_legacy_offset_keys

IntPair = Union[int, Tuple[int, ...]]


def modulated_deform_conv2d(input: Tensor,
                            offset: Tensor,
                            mask: Tensor,
                            weight: Tensor,
                            bias: Optional[Tensor] = None,
                            stride: IntPair = 1,
                            padding: IntPair = 0,
                            dilation: IntPair = 1,
                            groups: int = 1,
                            deform_groups: int = 1) -> Tensor:
    """Modulated deformable convolution (DCNv2), with mmcv's signature.

    Args:
        input (Tensor): (N, C_in, H, W) input.
        offset (Tensor): (N, deform_groups * 2 * kh * kw, H_out, W_out); for each deform
            group and tap ``i * kw + j`` the pair ``(dy, dx)``.
        mask (Tensor): (N, deform_groups * kh * kw, H_out, W_out) modulation scalars.
        weight (Tensor): (C_out, C_in // groups, kh, kw) weights.
        bias (Tensor, optional): (C_out,) bias.
        stride, padding, dilation (int | tuple[int, int]): as in ``nn.Conv2d``.
        groups (int): convolution groups.
        deform_groups (int): groups of input channels sharing offsets and masks.

    Returns:
        Tensor: (N, C_out, H_out, W_out) output.
    """
    return deformable_conv2d(input, offset, weight, bias, stride, padding, dilation, groups,
                             deform_groups, mask)


class ModulatedDeformConv2d(nn.Module):
    """Modulated deformable 2D convolution (DCNv2); offsets and mask are given to ``forward``.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int | tuple[int, int]): kernel size.
        stride, padding, dilation (int | tuple[int, int]): as in ``nn.Conv2d``.
        groups (int): convolution groups.
        deform_groups (int): groups of input channels sharing offsets and masks.
        bias (bool | str): whether to learn a bias (any truthy value, e.g. ``'auto'``, does).
    """

    @deprecated_api_warning({'deformable_groups': 'deform_groups'},
                            cls_name='ModulatedDeformConv2d')
    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: IntPair,
                 stride: IntPair = 1,
                 padding: IntPair = 0,
                 dilation: IntPair = 1,
                 groups: int = 1,
                 deform_groups: int = 1,
                 bias: Union[bool, str] = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.deform_groups = deform_groups
        # read by code that treats the layer like an nn.Conv2d
        self.transposed = False
        self.output_padding = _single(0)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter('bias', None)
        self.init_weights()

    def init_weights(self) -> None:
        """Uniform ``weight`` in +-1/sqrt(in_channels * kh * kw), zero ``bias``, as mmcv."""
        bound = 1. / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        self.weight.data.uniform_(-bound, bound)
        if self.bias is not None:
            self.bias.data.zero_()

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        """Apply the modulated deformable convolution.

        Args:
            x (Tensor): (N, C_in, H, W) input.
            offset (Tensor): (N, deform_groups * 2 * kh * kw, H_out, W_out) offsets.
            mask (Tensor): (N, deform_groups * kh * kw, H_out, W_out) modulation.

        Returns:
            Tensor: (N, C_out, H_out, W_out) output.
        """
        return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias, self.stride,
                                       self.padding, self.dilation, self.groups, self.deform_groups)


class ModulatedDeformConv2dPack(ModulatedDeformConv2d):
    """DCNv2 that predicts its own offsets and mask with ``conv_offset`` (registered as ``DCNv2``).

    ``conv_offset`` is an ``nn.Conv2d`` with ``deform_groups * 3 * kh * kw`` outputs,
    zero-initialised: its output splits into thirds ``o1, o2, m``; the offsets are
    ``cat(o1, o2)`` and the mask ``sigmoid(m)``.

    Args:
        *args, **kwargs: as :class:`ModulatedDeformConv2d`.
    """

    _version = 2

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.conv_offset = offset_conv(self, values_per_point=3)
        self.init_weights()

    def init_weights(self) -> None:
        """Init as :class:`ModulatedDeformConv2d`, and zero ``conv_offset`` once it exists."""
        super().init_weights()
        if hasattr(self, 'conv_offset'):
            self.conv_offset.weight.data.zero_()
            self.conv_offset.bias.data.zero_()

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Predict offsets and mask from ``x`` and apply the modulated deformable convolution.

        Args:
            x (Tensor): (N, C_in, H, W) input.

        Returns:
            Tensor: (N, C_out, H_out, W_out) output.
        """
        o1, o2, mask = torch.chunk(self.conv_offset(x), 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        return modulated_deform_conv2d(x, offset, torch.sigmoid(mask), self.weight, self.bias,
                                       self.stride, self.padding, self.dilation, self.groups,
                                       self.deform_groups)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        rename_legacy_offset_keys(state_dict, prefix, local_metadata)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
