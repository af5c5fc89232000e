"""``mmcv.ops.roi_align``: ``roi_align`` and ``RoIAlign`` on ``torchvision.ops.roi_align``.

torchvision's kernel is the same Detectron2/Caffe2 RoIAlign as mmcv's
(``aligned`` shifts by half a pixel; ``aligned=False`` clamps RoI sizes to >= 1;
``sampling_ratio=0`` samples ``ceil(roi_size / output_size)`` points per bin;
points beyond ``[-1, size]`` read 0).  ``pool_mode='max'`` takes the largest of
a bin's bilinear samples, as mmcv does: the samples are drawn by one
torchvision call with ``sampling_ratio=1`` on a grid ``samples`` times finer,
then max-pooled.
"""
from typing import Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from mmengine.utils import deprecated_api_warning
from torch import Tensor
from torch.nn.modules.utils import _pair

#: Initial running maximum of mmcv's max-mode kernel: the output of a bin whose samples are all lower.
_MAX_MODE_FLOOR = -10000.


def _samples_per_bin(rois: Tensor, output_size: Tuple[int, int], spatial_scale: float,
                     aligned: bool) -> Tensor:
    """(R, 2) sample rows and columns per bin that ``sampling_ratio=0`` gives each RoI, as mmcv."""
    shift = 0.5 if aligned else 0.
    start = rois[:, 1:3] * spatial_scale - shift
    end = rois[:, 3:5] * spatial_scale - shift
    size = (end - start).flip(-1)  # (h, w)
    if not aligned:
        size = size.clamp(min=1.)
    return torch.ceil(size / size.new_tensor(output_size)).long()


def _roi_align_max(input: Tensor, rois: Tensor, output_size: Tuple[int, int], spatial_scale: float,
                   sampling_ratio: int, aligned: bool) -> Tensor:
    """RoIAlign with max pooling over each bin's bilinear samples (mmcv's ``pool_mode='max'``).

    Args:
        input (Tensor): (N, C, H, W) features.
        rois (Tensor): (R, 5) ``batch_index, x1, y1, x2, y2``.
        output_size (tuple[int, int]): bins per RoI (height, width).
        spatial_scale (float): factor from RoI to feature coordinates.
        sampling_ratio (int): samples per bin side; 0 picks it per RoI from the RoI size.
        aligned (bool): shift by -0.5 pixel (Detectron2's ``aligned``).

    Returns:
        Tensor: (R, C, out_h, out_w) pooled features.
    """
    out_h, out_w = output_size
    out = input.new_full((rois.size(0), input.size(1), out_h, out_w), _MAX_MODE_FLOOR)
    if sampling_ratio > 0:
        samples = rois.new_full((rois.size(0), 2), sampling_ratio, dtype=torch.long)
    else:
        samples = _samples_per_bin(rois, output_size, spatial_scale, aligned)
    for sh, sw in torch.unique(samples, dim=0).tolist():
        if sh <= 0 or sw <= 0:
            continue  # no samples: mmcv outputs the floor value
        members = ((samples[:, 0] == sh) & (samples[:, 1] == sw)).nonzero(as_tuple=False).view(-1)
        dense = torchvision.ops.roi_align(input, rois[members], (out_h * sh, out_w * sw), spatial_scale,
                                          1, aligned)
        pooled = F.max_pool2d(dense, (sh, sw), stride=(sh, sw))
        out = out.index_copy(0, members, pooled.clamp(min=_MAX_MODE_FLOOR))
    return out


def roi_align(input: Tensor,
              rois: Tensor,
              output_size: Union[int, Tuple[int, int]],
              spatial_scale: float = 1.0,
              sampling_ratio: int = 0,
              pool_mode: str = 'avg',
              aligned: bool = True) -> Tensor:
    """Pool each RoI into a fixed grid of bins by averaging (or maxing) bilinear samples.

    Args:
        input (Tensor): (N, C, H, W) features.
        rois (Tensor): (R, 5) ``batch_index, x1, y1, x2, y2`` in input-image coordinates.
        output_size (int | tuple[int, int]): bins per RoI (height, width).
        spatial_scale (float): factor from RoI to feature coordinates.
        sampling_ratio (int): samples per bin side; 0 uses ``ceil(roi_size / output_size)``.
        pool_mode (str): ``'avg'`` or ``'max'`` over a bin's samples.
        aligned (bool): shift RoIs by -0.5 pixel (True) or use the legacy alignment.

    Returns:
        Tensor: (R, C, out_h, out_w) pooled features.
    """
    assert pool_mode in ('max', 'avg')
    assert rois.size(1) == 5, 'RoI must be (idx, x1, y1, x2, y2)!'
    output_size = _pair(output_size)
    rois = rois.to(input.dtype)
    if pool_mode == 'max':
        return _roi_align_max(input, rois, output_size, float(spatial_scale), int(sampling_ratio),
                              aligned)
    return torchvision.ops.roi_align(input, rois, output_size, float(spatial_scale),
                                     int(sampling_ratio), aligned)


class RoIAlign(nn.Module):
    """RoI align pooling layer.

    Args:
        output_size (int | tuple[int, int]): bins per RoI (height, width).
        spatial_scale (float): factor from RoI to feature coordinates.
        sampling_ratio (int): samples per bin side; 0 picks it per RoI.
        pool_mode (str): ``'avg'`` or ``'max'``.
        aligned (bool): shift RoIs by -0.5 pixel (Detectron2's ``aligned``).
        use_torchvision (bool): mmcv's switch to torchvision's op; both settings run it
            here (``pool_mode`` is then ignored, as in mmcv).
    """

    @deprecated_api_warning({'out_size': 'output_size', 'sample_num': 'sampling_ratio'},
                            cls_name='RoIAlign')
    def __init__(self,
                 output_size: Union[int, Tuple[int, int]],
                 spatial_scale: float = 1.0,
                 sampling_ratio: int = 0,
                 pool_mode: str = 'avg',
                 aligned: bool = True,
                 use_torchvision: bool = False) -> None:
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.pool_mode = pool_mode
        self.aligned = aligned
        self.use_torchvision = use_torchvision

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        """Pool ``rois`` from ``input``.

        Args:
            input (Tensor): (N, C, H, W) features.
            rois (Tensor): (R, 5) ``batch_index, x1, y1, x2, y2``.

        Returns:
            Tensor: (R, C, out_h, out_w) pooled features.
        """
        pool_mode = 'avg' if self.use_torchvision else self.pool_mode
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio,
                         pool_mode, self.aligned)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(output_size={self.output_size}, '
                f'spatial_scale={self.spatial_scale}, '
                f'sampling_ratio={self.sampling_ratio}, '
                f'pool_mode={self.pool_mode}, '
                f'aligned={self.aligned}, '
                f'use_torchvision={self.use_torchvision})')
