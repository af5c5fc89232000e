"""Binary masks (holes, objects) from image files of any mode, by one rule.

The rule, by PIL mode:

* ``P`` (palette): a pixel is in the mask when its palette *index* is not 0, whatever
  colour the palette gives index 0 (a white entry 0 does not invert the mask).
* ``1``, ``L``, ``I;16``, ``I``, ``F`` (one channel): value > 0.
* ``RGB`` (and other colour modes): any channel > 0.
* With an alpha channel (``LA``, ``PA``, ``RGBA``): when the alpha varies over the
  image, the mask is alpha > 0 (an object cut out on a transparent background);
  when it is constant, the colour (or palette index) channels decide as above.
"""
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import InputError


class MaskReadError(InputError):
    """A mask file is missing or not a readable image."""


def binary_mask(image: Image.Image) -> np.ndarray:
    """(H, W) bool mask of an opened image, by the module's rule."""
    values = np.asarray(image)
    if 'A' in image.getbands():
        alpha = values[..., -1]
        if alpha.size and alpha.min() != alpha.max():
            return alpha > 0
        values = values[..., :-1]  # the colour channels, or the palette index of a PA image
        return values.any(axis=-1)
    if values.ndim == 3:
        return values.any(axis=-1)
    return values != 0 if image.mode == 'P' else values > 0


def read_binary_mask(path: Union[str, Path]) -> np.ndarray:
    """(H, W) bool mask of an image file, by the module's rule.

    Raises:
        MaskReadError: the file is missing or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise MaskReadError(f'mask {path} not found')
    try:
        with Image.open(path) as image:
            image.load()
            return binary_mask(image)
    except (UnidentifiedImageError, OSError) as err:
        raise MaskReadError(f'cannot read mask {path}: {err}') from None
