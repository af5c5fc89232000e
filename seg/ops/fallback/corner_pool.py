"""``mmcv.ops.corner_pool``: mmcv's own file, whose forward is ``torch.cummax`` on torch >= 1.5."""
from ._mmcv_source import load_mmcv_op_file

_mmcv = load_mmcv_op_file('corner_pool')
CornerPool = _mmcv.CornerPool
