"""``mmcv.ops.point_sample``: mmcv's own pure-PyTorch file (bilinear sampling via ``F.grid_sample``)."""
from ._mmcv_source import load_mmcv_op_file

_mmcv = load_mmcv_op_file('point_sample')
point_sample = _mmcv.point_sample
rel_roi_point_to_rel_img_point = _mmcv.rel_roi_point_to_rel_img_point
rel_roi_point_to_abs_img_point = _mmcv.rel_roi_point_to_abs_img_point
abs_img_point_to_rel_img_point = _mmcv.abs_img_point_to_rel_img_point
generate_grid = _mmcv.generate_grid
bilinear_grid_sample = _mmcv.bilinear_grid_sample
SimpleRoIAlign = _mmcv.SimpleRoIAlign
