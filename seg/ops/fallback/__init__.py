"""Fallbacks for the ``mmcv.ops`` that mmdet and FastSAM2 use, with mmcv's API.

Installed as ``mmcv.ops`` by :func:`seg.ops.backend.select_backend` when the
compiled extension does not load.  Each submodule is named like the mmcv file it
replaces so ``from mmcv.ops.<file> import X`` keeps working.

==============================  ===============================================
op                              fallback
==============================  ===============================================
nms, batched_nms, nms_match     ``torchvision.ops.nms`` / PyTorch
DeformConv2d(+Pack), DCN        ``torchvision.ops.deform_conv2d`` (or grid_sample)
ModulatedDeformConv2d(+Pack)    ``torchvision.ops.deform_conv2d`` with mask (or grid_sample)
roi_align, RoIAlign             ``torchvision.ops.roi_align``
roi_pool, RoIPool               PyTorch (torchvision rounds RoI corners; mmcv does not)
MultiScaleDeformableAttention   PyTorch (``F.grid_sample``)
sigmoid_focal_loss              PyTorch
CARAFE(Pack)                    PyTorch (``F.unfold``)
MaskedConv2d                    PyTorch (conv, then mask)
point_sample, merge_cells,      mmcv's own pure-PyTorch files, loaded without
CornerPool                      ``mmcv/ops/__init__.py``
==============================  ===============================================

Any other ``mmcv.ops`` name imports as a placeholder that raises
:class:`~seg.ops.fallback.missing.MissingOpError` when called.
"""
from .carafe import CARAFE, CARAFENaive, CARAFEPack, carafe, carafe_naive
from .corner_pool import CornerPool
from .deform_conv import DeformConv2d, DeformConv2dPack, deform_conv2d
from .focal_loss import SigmoidFocalLoss, sigmoid_focal_loss
from .masked_conv import MaskedConv2d, masked_conv2d
from .merge_cells import BaseMergeCell, ConcatCell, GlobalPoolingCell, SumCell
from .missing import MissingOpError, missing_op
from .modulated_deform_conv import (ModulatedDeformConv2d, ModulatedDeformConv2dPack,
                                    modulated_deform_conv2d)
from .multi_scale_deform_attn import (MultiScaleDeformableAttention,
                                      multi_scale_deformable_attn_pytorch)
from .nms import batched_nms, nms, nms_match
from .point_sample import SimpleRoIAlign, point_sample, rel_roi_point_to_rel_img_point
from .roi_align import RoIAlign, roi_align
from .roi_pool import RoIPool, roi_pool

#: Submodules installed as ``mmcv.ops.<name>``.
SUBMODULES = ('carafe', 'corner_pool', 'deform_conv', 'focal_loss', 'masked_conv', 'merge_cells',
              'modulated_deform_conv', 'multi_scale_deform_attn', 'nms', 'point_sample',
              'roi_align', 'roi_pool')

#: What compiled mmcv registers in mmengine's MODELS; registered by the installer.
REGISTERED_MODELS = {
    'DCN': DeformConv2dPack,
    'DCNv2': ModulatedDeformConv2dPack,
    'MultiScaleDeformableAttention': MultiScaleDeformableAttention,
    'carafe': CARAFEPack,
}

__all__ = [
    'CARAFE', 'CARAFENaive', 'CARAFEPack', 'carafe', 'carafe_naive', 'CornerPool', 'DeformConv2d',
    'DeformConv2dPack', 'deform_conv2d', 'SigmoidFocalLoss', 'sigmoid_focal_loss', 'MaskedConv2d',
    'masked_conv2d', 'BaseMergeCell', 'ConcatCell', 'GlobalPoolingCell', 'SumCell', 'MissingOpError',
    'ModulatedDeformConv2d', 'ModulatedDeformConv2dPack', 'modulated_deform_conv2d',
    'MultiScaleDeformableAttention', 'multi_scale_deformable_attn_pytorch', 'batched_nms', 'nms',
    'nms_match', 'SimpleRoIAlign', 'point_sample', 'rel_roi_point_to_rel_img_point', 'RoIAlign',
    'roi_align', 'RoIPool', 'roi_pool'
]


def __getattr__(name: str):
    """``from mmcv.ops import <op without fallback>`` gives a placeholder that raises when called."""
    if name.startswith('__'):
        raise AttributeError(name)
    return missing_op(name)
