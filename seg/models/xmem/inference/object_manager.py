"""Object ids of the user's masks (palette values, any order) ↔ XMem's consecutive labels 1..N."""
from typing import List, Tuple

import numpy as np
import torch
from torch import Tensor

from .inference_core import TrackingInputError

#: Mask values that are not objects: background and the DAVIS void colour.
NOT_OBJECTS = (0, 255)
#: Largest value an object-id mask may hold (ids are palette indices).
MAX_ID = 255


def as_object_ids(ids, frame: int) -> np.ndarray:
    """``ids`` as an (H, W) uint8 object-id mask, or a :class:`TrackingInputError` naming what is wrong.

    Args:
        ids: (H, W) array of object ids (0 background, 255 void): any integer or boolean dtype, or floats
            holding whole numbers.
        frame: the frame it is given for, for the message.

    Raises:
        TrackingInputError: not two-dimensional (an RGB image or a stack of masks), not whole numbers (a soft
            mask), or ids outside 0..255.
    """
    ids = np.asarray(ids)
    if ids.ndim == 3 and ids.shape[2] in (3, 4):
        raise TrackingInputError(f'mask of frame {frame} has {ids.shape[2]} channels (shape {ids.shape}: an RGB '
                                 f'image?); give (H, W) object ids: a palette PNG, a grey PNG of ids, or the '
                                 f'palette indices of the image, not its colours')
    if ids.ndim != 2:
        raise TrackingInputError(f'mask of frame {frame} has shape {ids.shape}; give (H, W) object ids, one map '
                                 f'for all objects (not a stack of per-object masks)')
    if ids.dtype == np.bool_:
        return ids.astype(np.uint8)
    if not (np.issubdtype(ids.dtype, np.integer) or np.issubdtype(ids.dtype, np.floating)):
        raise TrackingInputError(f'mask of frame {frame} has dtype {ids.dtype}; give integer object ids')
    if ids.size and np.issubdtype(ids.dtype, np.floating) and not np.array_equal(ids, np.round(ids)):
        raise TrackingInputError(f'mask of frame {frame} holds values that are not whole numbers (a soft or '
                                 f'resized mask?); object ids must be whole numbers: threshold or round it first')
    if ids.size and (ids.min() < 0 or ids.max() > MAX_ID):
        raise TrackingInputError(f'object ids must lie in 0..{MAX_ID} (palette indices; 255 is void), but the '
                                 f'mask of frame {frame} holds {ids.min():g}..{ids.max():g}; renumber the '
                                 f'objects 1..N')
    return ids.astype(np.uint8)


class ObjectManager:
    """Give every object id a label the first time a mask shows it, and map predictions back.

    Labels are assigned in ascending id order within a mask, after the labels of
    earlier masks, as XMem's groups require.
    """

    def __init__(self):
        self.id_of_label: List[int] = []

    @property
    def labels(self) -> List[int]:
        """All labels so far, 1..N."""
        return list(range(1, len(self.id_of_label) + 1))

    def add_mask(self, ids: np.ndarray) -> Tuple[Tensor, List[int]]:
        """Register the objects of an (H, W) id mask.

        Returns:
            (N, H, W) float 0/1 masks over all labels known afterwards (channels of objects this
            mask does not show are 0) and the labels it annotates (XMem's ``valid_labels``).

        Raises:
            TrackingInputError: the mask shows no object.
        """
        present = [int(i) for i in np.unique(ids) if int(i) not in NOT_OBJECTS]
        if not present:
            raise TrackingInputError('a given mask holds no object (only 0 / 255 values); give at least one '
                                     'object id on the first frame')
        for object_id in present:
            if object_id not in self.id_of_label:
                self.id_of_label.append(object_id)
        masks = torch.from_numpy(np.stack([ids == i for i in self.id_of_label]).astype(np.float32))
        return masks, [self.id_of_label.index(i) + 1 for i in present]

    def to_ids(self, prob: Tensor) -> np.ndarray:
        """(1 + N, H, W) probabilities → (H, W) uint8 object ids (argmax; background 0)."""
        lut = np.array([0] + self.id_of_label, dtype=np.uint8)
        return lut[prob.argmax(0).cpu().numpy()]
