"""Layers two or more model families share."""
from .lite_deform_conv import DeformUpsample, LiteDeformConv
from .second_order_deformable_alignment import SecondOrderDeformableAlignment
from .sync_bn import SyncBatchNorm

__all__ = ['DeformUpsample', 'LiteDeformConv', 'SecondOrderDeformableAlignment', 'SyncBatchNorm']
