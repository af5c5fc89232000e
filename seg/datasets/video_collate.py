"""A collate function for whole-video evaluation items: one list per key, nothing transposed or stacked."""
from typing import Dict, List, Sequence

from mmengine.registry import FUNCTIONS


@FUNCTIONS.register_module()
def video_collate(data_batch: Sequence[dict]) -> Dict[str, List]:
    """``{key: [item[key] for item in data_batch]}``.

    mmengine's ``pseudo_collate`` transposes per-item lists (``frame_names`` of T names become T
    tuples) and dicts (``given_masks`` keyed by frame index); video items need them kept per item.
    """
    keys = list(data_batch[0])
    for item in data_batch[1:]:
        if list(item) != keys:
            raise ValueError(f'items of one batch have different keys: {keys} and {list(item)}')
    return {key: [item[key] for item in data_batch] for key in keys}
