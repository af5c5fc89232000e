"""COCO panoptic PNGs: segment ids stored as RGB colours, ``id = R + 256 * G + 256**2 * B``."""
from typing import List, Optional, Sequence, Union

import mmcv
import numpy as np
from mmengine.fileio import get


def rgb2id(colour: Union[np.ndarray, Sequence[int]]) -> Union[np.ndarray, int]:
    """Decode panoptic segment ids from RGB colours.

    Args:
        colour: An RGB image of shape (H, W, 3) (channel order R, G, B), or one
            colour as a sequence of 3 ints.

    Returns:
        The ids ``R + 256 * G + 256**2 * B``: an int32 array of shape (H, W)
        for an image (int64 or wider if the input is), an int for one colour.
    """
    if isinstance(colour, np.ndarray) and colour.ndim == 3:
        if colour.dtype == np.uint8:
            colour = colour.astype(np.int32)
        return colour[..., 0] + 256 * colour[..., 1] + 256 * 256 * colour[..., 2]
    return int(colour[0] + 256 * colour[1] + 256 * 256 * colour[2])


def id2rgb(id_map: Union[np.ndarray, int]) -> Union[np.ndarray, List[int]]:
    """Encode panoptic segment ids as RGB colours (inverse of :func:`rgb2id`).

    Args:
        id_map: Non-negative ids below ``256**3``: an integer array of shape
            (H, W), or one int.

    Returns:
        A uint8 array of shape (H, W, 3) in R, G, B order, or ``[R, G, B]``
        for one int.
    """
    if isinstance(id_map, np.ndarray):
        ids = id_map.astype(np.int64)
        rgb = np.zeros(id_map.shape + (3, ), dtype=np.uint8)
        for channel in range(3):
            rgb[..., channel] = ids % 256
            ids //= 256
        return rgb
    colour = []
    for _ in range(3):
        colour.append(id_map % 256)
        id_map //= 256
    return colour


def load_panoptic_png(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read a COCO panoptic PNG and decode its segment ids.

    Args:
        path: File path or URI understood by mmengine's file backends.
        backend_args: Arguments for the file backend; None means local.

    Returns:
        The id map, int32 of shape (H, W).
    """
    img_bytes = get(path, backend_args=backend_args)
    rgb = mmcv.imfrombytes(img_bytes, flag='color', channel_order='rgb')
    return rgb2id(rgb)
