"""ObjectManager: object ids ↔ XMem's labels 1..N, objects added by later masks, predictions back to ids."""
import numpy as np
import pytest
import torch

from seg.fileio import InputError
from seg.models.xmem.inference import ObjectManager, TrackingInputError

FIRST = np.array([[0, 7, 7],
                  [3, 3, 255]], np.uint8)
LATER = np.array([[5, 7, 0],
                  [5, 0, 0]], np.uint8)


def test_labels_follow_ascending_ids_and_ignore_background_and_void():
    objects = ObjectManager()
    masks, valid = objects.add_mask(FIRST)
    assert objects.id_of_label == [3, 7] and objects.labels == [1, 2] and valid == [1, 2]
    assert masks.dtype == torch.float32
    assert torch.equal(masks, torch.tensor([[[0., 0, 0], [1, 1, 0]],
                                            [[0., 1, 1], [0, 0, 0]]]))


def test_a_later_mask_adds_its_new_objects_after_the_known_ones():
    objects = ObjectManager()
    objects.add_mask(FIRST)
    masks, valid = objects.add_mask(LATER)
    # id 5 is below 7 but new: it gets the next label; object 3, absent here, keeps an empty channel
    assert objects.id_of_label == [3, 7, 5] and objects.labels == [1, 2, 3]
    assert valid == [3, 2]
    assert torch.equal(masks, torch.stack([torch.zeros(2, 3), torch.tensor([[0., 1, 0], [0, 0, 0]]),
                                           torch.tensor([[1., 0, 0], [1, 0, 0]])]))


def test_to_ids_maps_the_argmax_label_back_to_its_id():
    objects = ObjectManager()
    objects.add_mask(FIRST)
    objects.add_mask(LATER)
    prob = torch.tensor([[0.7, 0.1, 0.1, 0.1],   # background, labels 1..3 (ids 3, 7, 5), one pixel per row
                         [0.1, 0.6, 0.2, 0.1],
                         [0.1, 0.2, 0.6, 0.1],
                         [0.0, 0.1, 0.2, 0.7]]).T.reshape(4, 2, 2)
    ids = objects.to_ids(prob)
    assert ids.dtype == np.uint8
    np.testing.assert_array_equal(ids, [[0, 3], [7, 5]])


@pytest.mark.parametrize('ids', [np.zeros((2, 3), np.uint8), np.full((2, 3), 255, np.uint8)])
def test_a_mask_without_objects_is_refused(ids):
    with pytest.raises(TrackingInputError, match='holds no object') as err:
        ObjectManager().add_mask(ids)
    assert isinstance(err.value, InputError)  # tools print it as one line
