"""``mmcv.ops.merge_cells`` (NAS-FPN cells): mmcv's own pure-PyTorch file."""
from ._mmcv_source import load_mmcv_op_file

_mmcv = load_mmcv_op_file('merge_cells')
BaseMergeCell = _mmcv.BaseMergeCell
SumCell = _mmcv.SumCell
ConcatCell = _mmcv.ConcatCell
GlobalPoolingCell = _mmcv.GlobalPoolingCell
