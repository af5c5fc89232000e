"""VideoInpaintingDataPreprocessor: dataset items (uint8 frames, data samples with holes) become exactly the
tensors the plain-dict path gave before (frames in [-1, 1] and float holes); batches are checked."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.structures import BaseDataElement

from seg.datasets.video_inpainting_dataset import VideoInpaintingDataset
from seg.models.data_preprocessors.video_inpainting_data_preprocessor import VideoInpaintingDataPreprocessor
from seg.toy_data import make_e2fgvi


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return make_e2fgvi(tmp_path_factory.mktemp('e2fgvi'), num_train=2, num_val=2, num_frames=8, height=40, width=56)


def old_item(frames_hwc: np.ndarray, masks_thw: np.ndarray) -> dict:
    """What ``VideoInpaintingDataset`` returned before data samples, from its (T, H, W, 3) uint8 frames and
    (T, H, W) uint8 holes: frames (T, 3, H, W) in [-1, 1], masks (T, 1, H, W) float."""
    return dict(frames=torch.from_numpy(np.ascontiguousarray(frames_hwc)).permute(0, 3, 1, 2).float() / 255 * 2 - 1,
                masks=torch.from_numpy(masks_thw).float()[:, None])


def old_batch(items) -> dict:
    """What the old preprocessor made of a list of old items: (B, T, 3, H, W) frames, (B, T, 1, H, W) masks."""
    return dict(frames=torch.stack([item['frames'] for item in items]).float(),
                masks=torch.stack([item['masks'] for item in items]).float())


@pytest.mark.parametrize('mode', ['train', 'train_flipped', 'test'])
def test_a_batch_gives_exactly_the_tensors_of_the_old_path(toy_root, mode):
    if mode == 'test':
        dataset = VideoInpaintingDataset(str(toy_root), ann_file='test.json', size=None, mask_dir=None,
                                         test_mode=True)
    else:
        dataset = VideoInpaintingDataset(str(toy_root), ann_file='train.json', size=(32, 24), num_local_frames=3,
                                         num_ref_frames=2, flip_prob=float(mode == 'train_flipped'), seed=0)
    items = [dataset[0], dataset[1]]
    expected = old_batch([old_item(item['inputs'].permute(0, 2, 3, 1).numpy(), item['data_samples'].masks[:, 0].numpy())
                          for item in items])
    data = VideoInpaintingDataPreprocessor()(pseudo_collate(items), training=mode != 'test')
    assert set(data) == {'inputs', 'data_samples'}
    assert data['inputs'].dtype == torch.float32 and torch.equal(data['inputs'], expected['frames'])
    # The memory layout too: the networks' CPU kernels round differently on another one.
    assert data['inputs'].stride() == expected['frames'].stride()
    masks = torch.stack([sample.masks for sample in data['data_samples']])
    assert masks.dtype == torch.float32 and torch.equal(masks, expected['masks'])
    assert masks.stride() == expected['masks'].stride()
    assert data['inputs'].min() >= -1 and data['inputs'].max() <= 1
    # The metadata rides along whole; the loader's batch keeps its own (uint8) samples.
    for sample, item in zip(data['data_samples'], items):
        assert sample is not item['data_samples'] and sample.metainfo == item['data_samples'].metainfo
        assert item['data_samples'].masks.dtype == torch.uint8


def make_item(frames=4, height=8, width=8, mask_frames=None):
    sample = BaseDataElement(metainfo=dict(video_name=f'v{frames}'),
                             masks=torch.zeros(mask_frames or frames, 1, height, width, dtype=torch.uint8))
    return dict(inputs=torch.zeros(frames, 3, height, width, dtype=torch.uint8), data_samples=sample)


def test_bad_batches_name_the_fix():
    preprocessor = VideoInpaintingDataPreprocessor()
    with pytest.raises(ValueError, match='batch_size=1'):
        preprocessor(pseudo_collate([make_item(4), make_item(6)]))
    with pytest.raises(ValueError, match=r"'v4'.*masks \(3, 1, 8, 8\).*expected \(4, 1, 8, 8\)"):
        preprocessor(pseudo_collate([make_item(4, mask_frames=3)]))
    floats = pseudo_collate([make_item()])
    floats['inputs'] = [frames.float() / 255 * 2 - 1 for frames in floats['inputs']]
    with pytest.raises(TypeError, match='uint8'):
        preprocessor(floats)
    with pytest.raises(KeyError, match='data_samples'):
        preprocessor(dict(inputs=[torch.zeros(4, 3, 8, 8, dtype=torch.uint8)]))
