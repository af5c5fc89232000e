"""VOSDataPreprocessor: training clips normalised as the datasets did before, evaluation batches passed through."""
import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from mmengine.structures import BaseDataElement
from torchvision.transforms import v2

from seg.datasets.static_clip_dataset import StaticClipDataset
from seg.datasets.vos_clip_dataset import IMAGENET_MEAN, IMAGENET_STD, VOSClipDataset, normalise_frames
from seg.models.data_preprocessors import VOSDataPreprocessor
from seg.toy_data import make_davis, make_static


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    return dict(davis=make_davis(root / 'davis', num_train=2, num_val=1, num_frames=6, height=48, width=80),
                static=make_static(root / 'static', num_train=2, num_val=0, height=48, width=80))


def _items(dataset, seed: int = 0):
    torch.manual_seed(seed)
    return [dataset[0], dataset[1]]


def test_clips_are_normalised_bit_for_bit_as_before(toy):
    duts = dict(image_dir=str(toy['static'] / 'DUTS-TR' / 'DUTS-TR-Image'),
                mask_dir=str(toy['static'] / 'DUTS-TR' / 'DUTS-TR-Mask'))
    datasets = [VOSClipDataset(str(toy['davis']), num_frames=3, max_num_obj=2, crop_size=(32, 48)),
                StaticClipDataset([duts], num_frames=3, crop_size=(32, 48))]
    preprocessor = VOSDataPreprocessor()
    # The datasets' former normalisations: torchvision's Normalize (VOSClipDataset), normalise_frames (static).
    former = v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    for dataset in datasets:
        items = _items(dataset)
        assert all(item['inputs'].dtype == torch.uint8 and item['inputs'].shape == (3, 3, 32, 48) for item in items)
        batch = preprocessor(pseudo_collate(items), training=True)
        assert batch['inputs'].shape == (2, 3, 3, 32, 48) and batch['inputs'].dtype == torch.float32
        for b, item in enumerate(items):
            rgb = item['inputs'].permute(0, 2, 3, 1).numpy()
            assert torch.equal(batch['inputs'][b], normalise_frames(rgb))
            assert torch.equal(batch['inputs'][b], torch.stack([former(f.float() / 255) for f in item['inputs']]))
            assert torch.equal(batch['data_samples'][b].cls_gt, item['data_samples'].cls_gt)
        # mmengine's default_collate stacks the clips itself: same batch.
        assert torch.equal(preprocessor(default_collate(items))['inputs'], batch['inputs'])


def test_mean_and_std_are_settings_not_checkpoint_state():
    preprocessor = VOSDataPreprocessor(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert preprocessor.state_dict() == {}
    clip = torch.full((1, 2, 3, 4, 4), 255, dtype=torch.uint8)
    out = preprocessor(dict(inputs=clip, data_samples=[BaseDataElement()]))['inputs']
    assert torch.equal(out, torch.full((1, 2, 3, 4, 4), 2.0))
    with pytest.raises(ValueError, match='3 \\(RGB\\) values'):
        VOSDataPreprocessor(mean=(0.5,))


def test_bad_clips_are_named():
    preprocessor = VOSDataPreprocessor()
    clips = [torch.zeros(3, 3, 8, 8, dtype=torch.uint8), torch.zeros(2, 3, 8, 8, dtype=torch.uint8)]
    with pytest.raises(ValueError, match='differ in shape'):
        preprocessor(dict(inputs=clips, data_samples=[None, None]))
    with pytest.raises(ValueError, match=r'\(B, T, 3, H, W\)'):
        preprocessor(dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)], data_samples=[None]))


def test_evaluation_batches_pass_through():
    frames = [torch.randn(4, 3, 8, 8)]
    batch = dict(frames=frames, gt=[np.zeros((4, 8, 8), np.uint8)], name=['seq'])
    out = VOSDataPreprocessor()(batch)
    assert set(out) == {'frames', 'gt', 'name'} and out['name'] == ['seq']
    assert torch.equal(out['frames'][0], frames[0]) and out['gt'][0] is batch['gt'][0]
