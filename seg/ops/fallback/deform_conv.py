"""``mmcv.ops.deform_conv``: ``deform_conv2d``, ``DeformConv2d`` and ``DeformConv2dPack`` (DCN).

The op runs ``torchvision.ops.deform_conv2d``, whose offset (and mask) layout is
mmcv's: per deform group, per kernel tap ``i * kw + j``, the pair ``(dy, dx)``,
and whose bilinear sampling is mmcv's (zeros outside the image).  Where
torchvision's compiled op is missing (decided once, at import) or has no kernel
for the device, :mod:`.deform_sampling` computes the same with ``grid_sample``.
Gradients come from autograd.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.utils import deprecated_api_warning
from torch import Tensor
from torch.nn.modules.utils import _pair, _single

from .deform_sampling import deform_conv2d_sampling, deform_conv_output_size

IntPair = Union[int, Tuple[int, ...]]


def _torchvision_deform_conv_loaded() -> bool:
    """Whether torchvision's compiled ``deform_conv2d`` op is registered."""
    try:
        import torchvision  # noqa: F401  (registers torch.ops.torchvision)
        torch.ops.torchvision.deform_conv2d  # noqa: B018
    except (ImportError, AttributeError, RuntimeError):
        return False
    return True


#: Whether :func:`deformable_conv2d` runs ``torchvision.ops.deform_conv2d`` (else grid_sample).
USE_TORCHVISION: bool = _torchvision_deform_conv_loaded()

#: Devices on which torchvision ships a deform_conv2d kernel.
TORCHVISION_DEVICES = ('cpu', 'cuda')

#: Dtypes torchvision's deform_conv2d kernels lack: such inputs (bfloat16 activations under CPU autocast) run in
#: float32 and the output is cast back, as torchvision's own CUDA autocast rule for the op does.
TORCHVISION_MISSING_DTYPES = (torch.bfloat16, )


def deformable_conv2d(input: Tensor,
                      offset: Tensor,
                      weight: Tensor,
                      bias: Optional[Tensor] = None,
                      stride: IntPair = 1,
                      padding: IntPair = 0,
                      dilation: IntPair = 1,
                      groups: int = 1,
                      deform_groups: int = 1,
                      mask: Optional[Tensor] = None) -> Tensor:
    """Deformable convolution, v1 or (with ``mask``) v2, on the best available path.

    ``input``, ``weight``, ``bias`` and ``mask`` are cast to ``offset``'s dtype, as
    mmcv does so that AMP (half offsets from ``conv_offset``) works; a dtype
    torchvision has no kernel for (bfloat16) is computed in float32.

    Args:
        input (Tensor): (N, C_in, H, W) input.
        offset (Tensor): (N, deform_groups * 2 * kh * kw, H_out, W_out), ``(dy, dx)`` per tap.
        weight (Tensor): (C_out, C_in // groups, kh, kw) weights.
        bias (Tensor, optional): (C_out,) bias.
        stride, padding, dilation (int | tuple[int, int]): as in ``nn.Conv2d``.
        groups (int): convolution groups.
        deform_groups (int): groups of input channels sharing offsets and masks.
        mask (Tensor, optional): (N, deform_groups * kh * kw, H_out, W_out) modulation.

    Returns:
        Tensor: (N, C_out, H_out, W_out) output.
    """
    if input.dim() != 4:
        raise ValueError(f'Expected 4D tensor as input, got {input.dim()}D tensor instead.')
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    input = input.type_as(offset)
    weight = weight.type_as(input)
    bias = None if bias is None else bias.type_as(input)
    mask = None if mask is None else mask.type_as(input)
    kh, kw = weight.shape[2:]
    out_h, out_w = deform_conv_output_size(input.shape[2:], (kh, kw), stride, padding, dilation)
    if offset.shape != (input.size(0), deform_groups * 2 * kh * kw, out_h, out_w):
        raise ValueError(f'offset has shape {tuple(offset.shape)}, expected '
                         f'({input.size(0)}, {deform_groups * 2 * kh * kw}, {out_h}, {out_w})')
    if input.size(1) != weight.size(1) * groups:
        raise ValueError(f'input has {input.size(1)} channels; weight expects '
                         f'{weight.size(1)} x {groups} groups')
    if USE_TORCHVISION and input.device.type in TORCHVISION_DEVICES:
        import torchvision
        if input.dtype not in TORCHVISION_MISSING_DTYPES:
            return torchvision.ops.deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)
        output = torchvision.ops.deform_conv2d(input.float(), offset.float(), weight.float(),
                                               None if bias is None else bias.float(), stride, padding, dilation,
                                               None if mask is None else mask.float())
        return output.to(input.dtype)
    return deform_conv2d_sampling(input, offset, weight, bias, stride, padding, dilation, groups,
                                  deform_groups, mask)


def deform_conv2d(input: Tensor,
                  offset: Tensor,
                  weight: Tensor,
                  stride: IntPair = 1,
                  padding: IntPair = 0,
                  dilation: IntPair = 1,
                  groups: int = 1,
                  deform_groups: int = 1,
                  bias: bool = False,
                  im2col_step: int = 32) -> Tensor:
    """Deformable convolution v1, with mmcv's ``deform_conv2d`` signature.

    Args:
        input (Tensor): (N, C_in, H, W) input.
        offset (Tensor): (N, deform_groups * 2 * kh * kw, H_out, W_out); for each deform
            group and tap ``i * kw + j`` the pair ``(dy, dx)``.
        weight (Tensor): (C_out, C_in // groups, kh, kw) weights.
        stride, padding, dilation (int | tuple[int, int]): as in ``nn.Conv2d``.
        groups (int): convolution groups.
        deform_groups (int): groups of input channels sharing offsets.
        bias (bool): must be False, as in mmcv.
        im2col_step (int): accepted for compatibility; unused (no im2col batching here).

    Returns:
        Tensor: (N, C_out, H_out, W_out) output.
    """
    assert bias is False, 'Only support bias is False.'
    return deformable_conv2d(input, offset, weight, None, stride, padding, dilation, groups,
                             deform_groups)


class DeformConv2d(nn.Module):
    """Deformable 2D convolution (DCNv1) without bias; offsets are given to ``forward``.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        kernel_size (int | tuple[int, int]): kernel size.
        stride, padding, dilation (int | tuple[int, int]): as in ``nn.Conv2d``.
        groups (int): convolution groups.
        deform_groups (int): groups of input channels sharing offsets.
        bias (bool): must be False.
        im2col_step (int): kept as an attribute for compatibility; unused.
    """

    @deprecated_api_warning({'deformable_groups': 'deform_groups'}, cls_name='DeformConv2d')
    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: IntPair,
                 stride: IntPair = 1,
                 padding: IntPair = 0,
                 dilation: IntPair = 1,
                 groups: int = 1,
                 deform_groups: int = 1,
                 bias: bool = False,
                 im2col_step: int = 32) -> None:
        super().__init__()
        assert not bias, f'bias={bias} is not supported in DeformConv2d.'
        assert in_channels % groups == 0, \
            f'in_channels {in_channels} cannot be divisible by groups {groups}'
        assert out_channels % groups == 0, \
            f'out_channels {out_channels} cannot be divisible by groups {groups}'
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.deform_groups = deform_groups
        self.im2col_step = im2col_step
        # read by code that treats the layer like an nn.Conv2d
        self.transposed = False
        self.output_padding = _single(0)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform init of ``weight`` (ReLU gain), as mmcv."""
        nn.init.kaiming_uniform_(self.weight, nonlinearity='relu')

    def forward(self, x: Tensor, offset: Tensor) -> Tensor:
        """Apply the deformable convolution.

        Inputs smaller than the kernel are zero-padded on the bottom/right and the
        output cropped back, as mmcv does.

        Args:
            x (Tensor): (N, C_in, H, W) input.
            offset (Tensor): (N, deform_groups * 2 * kh * kw, H_out, W_out) offsets,
                ``[y0, x0, y1, x1, ...]`` per deform group, taps in row-major order.

        Returns:
            Tensor: (N, C_out, H_out, W_out) output.
        """
        pad_h = max(self.kernel_size[0] - x.size(2), 0)
        pad_w = max(self.kernel_size[1] - x.size(3), 0)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
            offset = F.pad(offset, (0, pad_w, 0, pad_h))
        out = deform_conv2d(x, offset, self.weight, self.stride, self.padding, self.dilation,
                            self.groups, self.deform_groups, False, self.im2col_step)
        if pad_h or pad_w:
            out = out[:, :, :out.size(2) - pad_h, :out.size(3) - pad_w].contiguous()
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(in_channels={self.in_channels},\n'
                f'out_channels={self.out_channels},\n'
                f'kernel_size={self.kernel_size},\n'
                f'stride={self.stride},\n'
                f'padding={self.padding},\n'
                f'dilation={self.dilation},\n'
                f'groups={self.groups},\n'
                f'deform_groups={self.deform_groups},\n'
                'bias=False)')


def rename_legacy_offset_keys(state_dict: dict, prefix: str, local_metadata: dict) -> None:
    """Rename pre-version-2 offset-conv keys in ``state_dict`` in place, as mmcv does.

    Before version 2 a DCN layer at ``prefix = '<name>.'`` stored its offset conv as
    ``<name>_offset.{weight,bias}`` (mmdet v1 models); it is now ``<name>.conv_offset.*``.
    mmdet v1's DCNv2 also used ``<name>.conv_offset_mask.*``, renamed here as well.

    Args:
        state_dict (dict): the checkpoint's state dict, edited in place.
        prefix (str): the module's key prefix, ending with ``'.'``.
        local_metadata (dict): the module's metadata (``version``).
    """
    version = local_metadata.get('version', None)
    if version is not None and version >= 2:
        return
    for name in ('weight', 'bias'):
        new_key = f'{prefix}conv_offset.{name}'
        for old_key in (f'{prefix[:-1]}_offset.{name}', f'{prefix}conv_offset_mask.{name}'):
            if new_key not in state_dict and old_key in state_dict:
                state_dict[new_key] = state_dict.pop(old_key)


def offset_conv(layer: nn.Module, values_per_point: int) -> nn.Conv2d:
    """The ``conv_offset`` of a ``*Pack`` layer: same geometry as ``layer``, one output per
    deform group, kernel point and predicted value (2 for offsets, 3 for offsets + mask)."""
    kh, kw = layer.kernel_size
    return nn.Conv2d(layer.in_channels, layer.deform_groups * values_per_point * kh * kw,
                     kernel_size=layer.kernel_size, stride=layer.stride, padding=layer.padding,
                     dilation=layer.dilation, bias=True)


class DeformConv2dPack(DeformConv2d):
    """DCNv1 that predicts its own offsets with ``conv_offset`` (registered as ``DCN``).

    ``conv_offset`` is an ``nn.Conv2d`` with the layer's kernel size, stride, padding
    and dilation and ``deform_groups * 2 * kh * kw`` output channels, zero-initialised
    (so the layer starts as a plain convolution).

    Args:
        *args, **kwargs: as :class:`DeformConv2d`.
    """

    _version = 2

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.conv_offset = offset_conv(self, values_per_point=2)
        self.init_offset()

    def init_offset(self) -> None:
        """Zero ``conv_offset``'s weight and bias."""
        self.conv_offset.weight.data.zero_()
        self.conv_offset.bias.data.zero_()

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """Predict offsets from ``x`` and apply the deformable convolution.

        Args:
            x (Tensor): (N, C_in, H, W) input.

        Returns:
            Tensor: (N, C_out, H_out, W_out) output.
        """
        offset = self.conv_offset(x)
        return deform_conv2d(x, offset, self.weight, self.stride, self.padding, self.dilation,
                             self.groups, self.deform_groups, False, self.im2col_step)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        rename_legacy_offset_keys(state_dict, prefix, local_metadata)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
