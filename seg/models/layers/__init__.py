from .lite_deform_conv import DeformUpsample, LiteDeformConv
from .sync_bn import SyncBatchNorm

__all__ = ['DeformUpsample', 'LiteDeformConv', 'SyncBatchNorm']
