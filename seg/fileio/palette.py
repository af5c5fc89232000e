"""Palette ('P' mode) PNG masks as DAVIS and YouTube-VOS store them: one object id per pixel."""
import io
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from .atomic import atomic_write_bytes
from .errors import InputError

PALETTE_SIZE = 256
#: DAVIS id of pixels left out of evaluation (object borders of DAVIS 2016).
VOID_ID = 255
#: Formats (PIL's names, read from the content, not the suffix) whose compression changes pixel values.
LOSSY_FORMATS = ('JPEG', 'MPO')


class PaletteMaskError(InputError):
    """A mask file is missing, unreadable or not an index map."""


def read_palette_png(path: Union[str, Path]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Read an object-id mask.

    Args:
        path: a PNG in 'P' (palette) or 'L' (grey) mode; pixel value = object id, 0 = background.

    Returns:
        ids (H, W) uint8 and the palette (256, 3) uint8 RGB, or None for a grey PNG.

    Raises:
        PaletteMaskError: the file is missing, unreadable, a JPEG (whatever its name: compression turns the
            edges of every object into stray ids) or not an index map.
    """
    path = Path(path)
    if not path.is_file():
        raise PaletteMaskError(f'mask {path} does not exist; check the annotation folder and the frame names')
    try:
        with Image.open(path) as im:
            im.load()
            mode, palette, image_format = im.mode, im.getpalette(), im.format
            ids = np.array(im)
    except (UnidentifiedImageError, OSError) as err:
        raise PaletteMaskError(f'mask {path} is not a readable PNG ({err}); re-export it as an 8-bit palette '
                               f'PNG') from None
    if image_format in LOSSY_FORMATS:
        raise PaletteMaskError(f'mask {path} is a JPEG; masks must be lossless (JPEG compression turns object '
                               f'edges into stray ids): give a palette PNG, or a PNG label image whose pixel '
                               f'values are object ids (0 background)')
    if mode not in ('P', 'L'):
        raise PaletteMaskError(f'mask {path} has mode {mode}; object masks must be palette (P) or grey (L) PNGs '
                               f'whose pixel values are object ids')
    if palette is None:
        return ids.astype(np.uint8), None
    palette = np.array(palette, np.uint8)[:PALETTE_SIZE * 3]
    palette = np.pad(palette, (0, PALETTE_SIZE * 3 - palette.size)).reshape(PALETTE_SIZE, 3)
    return ids.astype(np.uint8), palette


def write_palette_png(path: Union[str, Path], ids: np.ndarray, palette: np.ndarray) -> None:
    """Write an object-id mask atomically (readers see no file or the whole file).

    Args:
        path: output .png path; parent folders are created.
        ids: (H, W) integer object ids in [0, 255].
        palette: (256, 3) (or (N, 3), N ≤ 256) uint8 RGB colours, index = object id.
    """
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise PaletteMaskError(f'an object-id mask must be (H, W); got shape {ids.shape}')
    if ids.size and (ids.min() < 0 or ids.max() >= PALETTE_SIZE):
        raise PaletteMaskError(f'object ids must lie in [0, 255] for a palette PNG; got {ids.min()}..{ids.max()}')
    image = Image.fromarray(np.ascontiguousarray(ids, np.uint8), mode='P')
    image.putpalette(np.asarray(palette, np.uint8).reshape(-1).tolist())
    buffer = io.BytesIO()
    image.save(buffer, format='PNG')
    atomic_write_bytes(buffer.getvalue(), path)


def davis_palette() -> np.ndarray:
    """The DAVIS / PASCAL VOC palette: (256, 3) uint8 RGB, index 0 black, 1 (128, 0, 0), ..."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def binarise_gt(ids: np.ndarray, void: bool = True) -> np.ndarray:
    """Object ids → 0/1 (every object is the foreground); with ``void`` the value 255 stays 255."""
    ids = np.asarray(ids)
    fg = (ids > 0).astype(np.uint8)
    return np.where(ids == VOID_ID, VOID_ID, fg).astype(np.uint8) if void else fg
