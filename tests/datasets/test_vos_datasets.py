"""VOS training clips (DAVIS / YouTube-VOS layouts, XMem sampling) and whole-sequence evaluation items."""
import numpy as np
import pytest
import torch

from seg.fileio.palette import write_palette_png
from seg.toy_data import davis_palette, make_davis, make_ytvos
from seg.datasets.vos_clip_dataset import VOSClipDataset, VOSDataError
from seg.datasets.davis_eval_dataset import DAVISEvalDataset


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    root = tmp_path_factory.mktemp('vos')
    make_davis(root / 'davis', num_train=2, num_val=1, num_frames=10)
    make_ytvos(root / 'ytvos', num_train=2, num_val=1, num_frames=10)
    return root


def test_davis_clip_contract(roots):
    torch.manual_seed(0)
    ds = VOSClipDataset(str(roots / 'davis'), num_frames=3, max_jump=2, max_num_obj=2, crop_size=(48, 80))
    item = ds[0]
    # un-normalised RGB: VOSDataPreprocessor normalises it
    assert item['inputs'].shape == (3, 3, 48, 80) and item['inputs'].dtype == torch.uint8
    assert item['inputs'].float().std() > 5
    sample = item['data_samples']
    assert sample.first_frame_gt.shape == (1, 2, 48, 80) and sample.cls_gt.shape == (3, 1, 48, 80)
    assert sample.first_frame_gt.dtype == sample.cls_gt.dtype == torch.int64
    n = sample.num_objects
    assert 1 <= n <= 2 and sample.selector.tolist() == [1.0] * n + [0.0] * (2 - n)
    assert set(sample.cls_gt.unique().tolist()) <= set(range(n + 1))
    assert sample.name in ds.frames and len(sample.frame_names) == 3
    # the first frame's ground truth is the first frame of cls_gt, object by object
    for k in range(n):
        assert torch.equal(sample.first_frame_gt[0, k].bool(), sample.cls_gt[0, 0] == k + 1)


def test_frame_gap_follows_the_curriculum(roots):
    ds = VOSClipDataset(str(roots / 'davis'), num_frames=3, max_jump=1, crop_size=(48, 80))
    gaps = []
    for seed in range(20):
        torch.manual_seed(seed)
        idx = [int(f) for f in ds[seed % len(ds)]['data_samples'].frame_names]
        gaps.append(max(abs(a - b) for a, b in zip(idx, idx[1:])))
    assert max(gaps) <= 2  # each new frame lies within 1 of an earlier pick
    ds.set_max_skip(9)
    assert ds.max_jump == 9
    yt = VOSClipDataset(str(roots / 'ytvos'), layout='ytvos', num_frames=3, max_jump=10, crop_size=(48, 80))
    assert yt.max_jump == 2  # XMem divides the budget by 5 for YouTube-VOS
    assert yt[0]['inputs'].shape == (3, 3, 48, 80)


def test_bad_roots_and_masks_are_named(roots, tmp_path):
    with pytest.raises(VOSDataError, match='DAVIS 2017 root'):
        VOSClipDataset(str(tmp_path))
    with pytest.raises(VOSDataError, match='layout must be'):
        VOSClipDataset(str(roots / 'davis'), layout='vot')
    with pytest.raises(VOSDataError, match='has 50 frames'):
        VOSClipDataset(str(roots / 'davis'), num_frames=50)


def test_eval_items_hold_whole_sequences(roots, tmp_path):
    ds = DAVISEvalDataset(str(roots / 'davis'), split='val')
    item = ds[0]
    assert item['frames'].shape[0] == item['gt'].shape[0] == len(item['frame_names']) == 10
    assert item['gt'].dtype == np.uint8 and item['palette'].shape == (256, 3)
    mask = next((roots / 'davis' / 'Annotations' / '480p' / item['name']).glob('*.png'))
    write_palette_png(mask, np.zeros((8, 8), np.uint8), davis_palette())
    with pytest.raises(VOSDataError, match='differ'):
        ds[0]
