"""Operators for FastSAM2's models, from one place.

Model code imports ops from here and never checks what is installed: on
``import seg`` the backend is chosen once (:func:`~seg.ops.backend.select_backend`)
and ``mmcv.ops`` is then either compiled mmcv or :mod:`seg.ops.fallback`.
"""
from .backend import compiled_ops, describe_backend, select_backend

select_backend()

from mmcv.ops import (CARAFEPack, CornerPool, DeformConv2d, DeformConv2dPack,  # noqa: E402
                      MaskedConv2d, ModulatedDeformConv2d, ModulatedDeformConv2dPack,
                      MultiScaleDeformableAttention, RoIAlign, RoIPool, batched_nms,
                      deform_conv2d, modulated_deform_conv2d, nms, nms_match, point_sample,
                      rel_roi_point_to_rel_img_point, roi_align, roi_pool, sigmoid_focal_loss)

__all__ = [
    'compiled_ops', 'describe_backend', 'select_backend', 'CARAFEPack', 'CornerPool', 'DeformConv2d',
    'DeformConv2dPack', 'MaskedConv2d', 'ModulatedDeformConv2d', 'ModulatedDeformConv2dPack',
    'MultiScaleDeformableAttention', 'RoIAlign', 'RoIPool', 'batched_nms', 'deform_conv2d',
    'modulated_deform_conv2d', 'nms', 'nms_match', 'point_sample', 'rel_roi_point_to_rel_img_point',
    'roi_align', 'roi_pool', 'sigmoid_focal_loss'
]
