"""Layers two or more model families share."""
from .lite_deform_conv import DeformUpsample, LiteDeformConv
from .second_order_deformable_alignment import SecondOrderDeformableAlignment
from .soft_comp import SoftComp
from .soft_split import SoftSplit
from .sync_bn import SyncBatchNorm

__all__ = ['DeformUpsample', 'LiteDeformConv', 'SecondOrderDeformableAlignment', 'SoftComp', 'SoftSplit',
           'SyncBatchNorm']
