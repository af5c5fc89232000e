"""StaticClipDataset: XMem stage-0 clips from still image+mask pairs (toy DUTS layout and hand-made folders)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image

import seg  # noqa: F401
from seg.datasets.static_clip_dataset import StaticClipDataset
from seg.toy_data import make_static
from seg.datasets.vos_clip_dataset import IMAGENET_STD, VOSDataError
from seg.registry import DATASETS

H, W = 48, 64


@pytest.fixture(scope='module')
def duts(tmp_path_factory) -> dict:
    root = make_static(tmp_path_factory.mktemp('toy') / 'static', num_train=4, num_val=2, height=H, width=W)
    return dict(image_dir=str(root / 'DUTS-TR' / 'DUTS-TR-Image'), mask_dir=str(root / 'DUTS-TR' / 'DUTS-TR-Mask'))


def _rgb(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames as values in [0, 1]."""
    assert frames.dtype == torch.uint8
    return frames.float() / 255


def _pair(folder: Path, name: str, size=(30, 20), mask_size=None, suffix='.jpg') -> None:
    """A white disk on black (``size`` is W x H) and its 0/255 mask, as ``name<suffix>`` + ``name.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 <= (0.3 * min(w, h)) ** 2
    Image.fromarray(np.repeat(disk[..., None] * 255, 3, -1).astype(np.uint8)).save(folder / f'{name}{suffix}')
    mask = disk * 255 if mask_size is None else np.zeros(mask_size[::-1])
    Image.fromarray(mask.astype(np.uint8)).save(folder / f'{name}.png')


def test_item_format(duts):
    ds = StaticClipDataset([duts], crop_size=(H, W))
    assert len(ds) == 4
    torch.manual_seed(0)
    item = ds[2]
    sample = item['data_samples']
    assert item['inputs'].shape == (3, 3, H, W) and item['inputs'].dtype == torch.uint8
    assert sample.first_frame_gt.shape == (1, 1, H, W) and sample.first_frame_gt.dtype == torch.int64
    assert sample.cls_gt.shape == (3, 1, H, W) and sample.cls_gt.dtype == torch.int64
    assert sample.selector.dtype == torch.float32 and sample.selector.tolist() == [1.0]
    rgb = _rgb(item['inputs'])
    assert rgb.std() > 0.05
    assert set(sample.cls_gt.unique().tolist()) == {0, 1} and set(sample.first_frame_gt.unique().tolist()) == {0, 1}
    assert torch.equal(sample.first_frame_gt[0, 0], (sample.cls_gt[0, 0] == 1).long())
    assert sample.num_objects == 1 and sample.name.endswith('img_00002.jpg')
    assert sample.frame_names == ['img_00002'] * 3
    # The clip moves: frames (by 0.05 ImageNet standard deviations on average) and masks differ.
    assert ((rgb[0] - rgb[1]).abs() / torch.tensor(IMAGENET_STD)[:, None, None]).mean() > 0.05
    assert not torch.equal(sample.cls_gt[0], sample.cls_gt[1])


def test_mask_follows_image(tmp_path):
    # White disk on black: under every deformation the bright pixels must be the mask's pixels.
    _pair(tmp_path, 'disk', size=(128, 96))
    ds = StaticClipDataset([str(tmp_path)], num_frames=4, crop_size=(96, 128), elastic_prob=1.0)
    for seed in range(4):
        torch.manual_seed(seed)
        item = ds[0]
        bright = _rgb(item['inputs']).mean(1) > 0.6
        mask = item['data_samples'].cls_gt[:, 0] == 1
        for t in range(4):
            iou = (bright[t] & mask[t]).sum() / (bright[t] | mask[t]).sum()
            assert mask[t].sum() > 300 and iou > 0.95, (seed, t, float(iou))


def test_deterministic_under_seed(duts):
    ds = StaticClipDataset([duts], crop_size=(H, W))
    torch.manual_seed(3)
    a = ds[1]
    torch.manual_seed(3)
    b = ds[1]
    torch.manual_seed(4)
    c = ds[1]
    assert torch.equal(a['inputs'], b['inputs'])
    assert torch.equal(a['data_samples'].cls_gt, b['data_samples'].cls_gt)
    assert not torch.equal(a['inputs'], c['inputs'])


def test_more_objects_are_pasted_and_padded(duts):
    ds = StaticClipDataset([duts], max_num_obj=3, crop_size=(H, W))
    counts = set()
    for seed in range(8):
        torch.manual_seed(seed)
        sample = ds[0]['data_samples']
        n = sample.num_objects
        counts.add(n)
        assert sample.first_frame_gt.shape == (1, 3, H, W)
        assert sample.selector.tolist() == [1.0] * n + [0.0] * (3 - n)
        assert all(sample.first_frame_gt[0, k].any() for k in range(n))
        assert not sample.first_frame_gt[0, n:].any() and int(sample.cls_gt.max()) <= n
    assert 1 in counts and max(counts) >= 2


def test_folder_layouts(tmp_path):
    _pair(tmp_path / 'flat', 'a')
    _pair(tmp_path / 'flat', 'b', suffix='.JPEG')
    _pair(tmp_path / 'fss' / 'cat', '1')
    _pair(tmp_path / 'fss' / 'dog', '1')
    ds = StaticClipDataset([str(tmp_path / 'flat'), dict(image_dir=str(tmp_path / 'fss'), recursive=True, repeat=2)],
                           crop_size=(16, 16), repeat=2)
    assert len(ds) == 2 * (2 + 2 * 2)
    assert [p.name for p, _ in ds.pairs[:2]] == ['a.jpg', 'b.JPEG']
    assert [m.relative_to(tmp_path).as_posix() for _, m in ds.pairs[2:4]] == ['fss/cat/1.png', 'fss/dog/1.png']
    # Palette masks: foreground where the index is non-zero.
    (tmp_path / 'pal').mkdir()
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(tmp_path / 'pal' / 'x.jpg')
    pal = Image.fromarray(np.pad(np.ones((10, 10), np.uint8), ((5, 5), (10, 10))))
    pal.putpalette([0, 0, 0, 128, 0, 0] + [0] * 762)
    pal.save(tmp_path / 'pal' / 'x.png')
    torch.manual_seed(0)
    assert StaticClipDataset([str(tmp_path / 'pal')], crop_size=(20, 30))[0]['data_samples'].first_frame_gt.any()


def test_wrapped_by_mmengine_concat(tmp_path):
    _pair(tmp_path / 'a', 'x')
    _pair(tmp_path / 'b', 'y')
    cfg = dict(type='ConcatDataset', datasets=[
        dict(type='StaticClipDataset', data_roots=[str(tmp_path / 'a')], crop_size=(16, 16)),
        dict(type='StaticClipDataset', data_roots=[str(tmp_path / 'b')], crop_size=(16, 16), repeat=3)])
    with DefaultScope.overwrite_default_scope('seg'):
        ds = DATASETS.build(cfg)
    assert len(ds) == 4 and ds[3]['data_samples'].name.endswith('y.jpg')


def test_errors(tmp_path):
    with pytest.raises(VOSDataError, match='nope not found'):
        StaticClipDataset([str(tmp_path / 'nope')])
    _pair(tmp_path / 'ok', 'a')
    with pytest.raises(VOSDataError, match='mask folder .*masks not found'):
        StaticClipDataset([dict(image_dir=str(tmp_path / 'ok'), mask_dir=str(tmp_path / 'masks'))])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(VOSDataError, match=r'no image\+mask pairs.*recursive=True'):
        StaticClipDataset([str(tmp_path / 'empty')])
    with pytest.raises(VOSDataError, match='data_roots is empty'):
        StaticClipDataset([])
    with pytest.raises(VOSDataError, match='unknown keys'):
        StaticClipDataset([dict(image_dir=str(tmp_path / 'ok'), masks='x')])

    _pair(tmp_path / 'lonely', 'a')
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / 'lonely' / 'b.jpg')
    with pytest.raises(VOSDataError, match=r'1 of 2 images .* no mask, e\.g\. .*b\.jpg \(expected .*b\.png\): add'):
        StaticClipDataset([str(tmp_path / 'lonely')])

    _pair(tmp_path / 'corrupt', 'a')
    (tmp_path / 'corrupt' / 'a.jpg').write_bytes(b'not a jpeg at all')
    ds = StaticClipDataset([str(tmp_path / 'corrupt')], crop_size=(16, 16))
    with pytest.raises(VOSDataError, match='cannot read image .*a.jpg'):
        ds[0]
    _pair(tmp_path / 'truncated', 'a', size=(64, 48))
    data = (tmp_path / 'truncated' / 'a.jpg').read_bytes()
    (tmp_path / 'truncated' / 'a.jpg').write_bytes(data[:len(data) // 2])
    with pytest.raises(VOSDataError, match='cannot read image'):
        StaticClipDataset([str(tmp_path / 'truncated')], crop_size=(16, 16))[0]
    _pair(tmp_path / 'badmask', 'a')
    (tmp_path / 'badmask' / 'a.png').write_bytes(b'\x89PNG broken')
    with pytest.raises(VOSDataError, match='cannot read mask .*a.png'):
        StaticClipDataset([str(tmp_path / 'badmask')], crop_size=(16, 16))[0]

    _pair(tmp_path / 'sizes', 'a', size=(30, 20), mask_size=(10, 10))
    with pytest.raises(VOSDataError, match=r'a\.png is 10x10 px but image .*a\.jpg is 30x20'):
        StaticClipDataset([str(tmp_path / 'sizes')], crop_size=(16, 16))[0]
