"""Object ids of the user's masks (palette values, any order) ↔ XMem's consecutive labels 1..N."""
from typing import List, Tuple

import numpy as np
import torch
from torch import Tensor

from .inference_core import TrackingInputError

#: Mask values that are not objects: background and the DAVIS void colour.
NOT_OBJECTS = (0, 255)


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
