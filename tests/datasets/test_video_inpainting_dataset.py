"""VideoInpaintingDataset on toy E2FGVI data, frame folders and a video file: official sampling,
shapes and ranges, resizing, flip, fixed test masks, windows, registry/DataLoader use, clear errors."""
import json
import shutil
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.structures import BaseDataElement
from PIL import Image

from seg.toy_data import make_e2fgvi
from seg.datasets.transforms.free_form_masks import dilate_test_mask
from seg.datasets.video_inpainting_dataset import VideoInpaintingDataset, sample_train_frame_ids
from seg.registry import DATASETS

NUM_FRAMES = 12
TOY_H, TOY_W = 120, 216
OUT_W, OUT_H = 432, 240


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return make_e2fgvi(tmp_path_factory.mktemp('e2fgvi'), num_train=3, num_val=2, num_frames=NUM_FRAMES)


@pytest.fixture
def root(toy_root, tmp_path):
    """A private copy of the toy data, free to break."""
    return Path(shutil.copytree(toy_root, tmp_path / 'e2fgvi'))


def zip_frames(root, video):
    """(T, H, W, 3) uint8 RGB frames of a toy zip, decoded independently of the dataset."""
    with zipfile.ZipFile(root / 'JPEGImages' / f'{video}.zip') as zf:
        names = sorted(zf.namelist())
        return np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(zf.read(n), np.uint8), cv2.IMREAD_COLOR),
                                      cv2.COLOR_BGR2RGB) for n in names])


def to_uint8(frames):
    """(T, 3, H, W) uint8 → (T, H, W, 3) uint8."""
    assert frames.dtype == torch.uint8
    return frames.permute(0, 2, 3, 1).numpy()


def masks_of(item):
    """(T, 1, H, W) uint8 0/1 holes of an item."""
    return item['data_samples'].masks


def test_train_item_has_official_shapes_ranges_and_sampling(toy_root):
    ds = VideoInpaintingDataset(str(toy_root), ann_file='train.json', seed=0)
    assert len(ds) == 3
    item = ds[0]
    assert set(item) == {'inputs', 'data_samples'} and isinstance(item['data_samples'], BaseDataElement)
    sample = item['data_samples']
    assert set(sample.metainfo) == {'video_name', 'frame_ids', 'ori_shape'} and set(sample.keys()) == {'masks'}
    assert sample.video_name == 'vid_000'
    assert item['inputs'].shape == (8, 3, OUT_H, OUT_W) and item['inputs'].dtype == torch.uint8
    assert sample.masks.shape == (8, 1, OUT_H, OUT_W) and sample.masks.dtype == torch.uint8
    assert set(sample.masks.unique().tolist()) == {0, 1}
    assert sample.ori_shape == (TOY_H, TOY_W)
    ids = sample.frame_ids
    local, refs = ids[:5], ids[5:]
    assert local == list(range(local[0], local[0] + 5))
    assert refs == sorted(refs) and len(set(refs)) == 3 and not set(refs) & set(local)


def test_sample_train_frame_ids_covers_every_start_and_reference():
    rng = np.random.default_rng(0)
    starts, refs = set(), set()
    for _ in range(400):
        ids = sample_train_frame_ids(10, 5, 3, rng)
        starts.add(ids[0])
        refs.update(ids[5:])
    assert starts == set(range(6))
    assert refs == set(range(10))
    with pytest.raises(ValueError, match='cannot give'):
        sample_train_frame_ids(7, 5, 3, rng)


def test_frames_are_the_zip_frames_resized_bicubic_and_flip_flips_them(toy_root):
    plain = VideoInpaintingDataset(str(toy_root), ann_file='train.json', seed=3, flip_prob=0.0)[1]
    flipped = VideoInpaintingDataset(str(toy_root), ann_file='train.json', seed=3, flip_prob=1.0)[1]
    assert plain['data_samples'].frame_ids == flipped['data_samples'].frame_ids
    assert torch.equal(masks_of(plain), masks_of(flipped))  # the official flips frames only
    assert torch.equal(flipped['inputs'], plain['inputs'].flip(-1))
    raw = zip_frames(toy_root, 'vid_001')
    expected = np.stack([np.asarray(Image.fromarray(raw[i]).resize((OUT_W, OUT_H), Image.BICUBIC))
                         for i in plain['data_samples'].frame_ids])
    assert np.array_equal(to_uint8(plain['inputs']), expected)


def test_fixed_seed_repeats_items_and_no_seed_varies_them(toy_root):
    a = VideoInpaintingDataset(str(toy_root), ann_file='train.json', seed=5)
    b = VideoInpaintingDataset(str(toy_root), ann_file='train.json', seed=5)
    assert a[2]['data_samples'].frame_ids == b[2]['data_samples'].frame_ids
    assert torch.equal(masks_of(a[2]), masks_of(b[2]))
    free = VideoInpaintingDataset(str(toy_root), ann_file='train.json')
    np.random.seed(0)
    draws = {tuple(free[0]['data_samples'].frame_ids) for _ in range(6)}
    assert len(draws) > 1


def test_test_mode_gives_whole_videos_with_the_official_fixed_masks(toy_root):
    ds = VideoInpaintingDataset(str(toy_root), ann_file='test.json', test_mode=True)
    assert len(ds) == 2
    item = ds[0]
    name = item['data_samples'].video_name
    assert item['data_samples'].frame_ids == list(range(NUM_FRAMES))
    assert item['inputs'].shape == (NUM_FRAMES, 3, OUT_H, OUT_W)
    for t in (0, NUM_FRAMES - 1):
        png = Image.open(toy_root / 'test_masks' / name / f'{t:05d}.png')
        binary = np.asarray(png.resize((OUT_W, OUT_H), Image.NEAREST).convert('L')) > 0
        assert np.array_equal(masks_of(item)[t, 0].numpy(), dilate_test_mask(binary))
    undilated = VideoInpaintingDataset(str(toy_root), ann_file='test.json', test_mode=True, dilate_masks=False)[0]
    assert masks_of(undilated).sum() < masks_of(item).sum()


def test_windows_random_test_masks_and_original_size(toy_root):
    ds = VideoInpaintingDataset(str(toy_root), ann_file='test.json', test_mode=True, clip_length=5, size=None,
                                mask_dir=None)
    assert len(ds) == 2 * 3
    items = [ds[i] for i in range(3)]
    assert [it['data_samples'].frame_ids for it in items] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert items[0]['inputs'].shape == (5, 3, TOY_H, TOY_W)
    whole = VideoInpaintingDataset(str(toy_root), ann_file='test.json', test_mode=True, size=None, mask_dir=None)[0]
    # Windows of one video share its random masks, fixed by the seed.
    assert torch.equal(torch.cat([masks_of(it) for it in items]), masks_of(whole))
    assert masks_of(whole).sum() > 0


def test_frame_folders_and_video_files_without_ann_file(tmp_path, toy_root):
    frames = zip_frames(toy_root, 'vid_000')
    folder = tmp_path / 'videos' / 'clip_a'
    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f'{t:05d}.png')
    with av.open(str(tmp_path / 'videos' / 'clip_b.mp4'), 'w') as container:
        stream = container.add_stream('libx264', rate=10)
        stream.width, stream.height, stream.pix_fmt = TOY_W, TOY_H, 'yuv444p'
        stream.options = {'crf': '0'}  # lossless but for the RGB <-> YUV rounding
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        container.mux(stream.encode())
    ds = VideoInpaintingDataset(str(tmp_path), frame_dir='videos', test_mode=True, size=None, mask_dir=None)
    assert [ds.get_data_info(i)['source_type'] for i in range(len(ds))] == ['folder', 'video']
    from_folder, from_video = ds[0], ds[1]
    assert np.array_equal(to_uint8(from_folder['inputs']), frames)
    assert from_video['inputs'].shape == (NUM_FRAMES, 3, TOY_H, TOY_W)
    assert np.abs(to_uint8(from_video['inputs']).astype(int) - frames).mean() < 1.5
    train = VideoInpaintingDataset(str(tmp_path), frame_dir='videos', seed=0, num_local_frames=3, num_ref_frames=2)
    assert train[1]['inputs'].shape == (5, 3, OUT_H, OUT_W)


def test_builds_from_the_registry_and_batches_in_a_dataloader(toy_root):
    ds = DATASETS.build(dict(type='VideoInpaintingDataset', data_root=str(toy_root), ann_file='train.json',
                             num_local_frames=3, num_ref_frames=2))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=pseudo_collate)
    batches = list(loader)
    assert [len(b['inputs']) for b in batches] == [2, 1]
    assert batches[0]['inputs'][0].shape == (5, 3, OUT_H, OUT_W)
    # Data samples are not transposed by the collate: one per item, its frame ids whole.
    assert [s.video_name for s in batches[0]['data_samples']] == ['vid_000', 'vid_001']
    assert all(len(s.frame_ids) == 5 for s in batches[0]['data_samples'])


def test_corrupt_zip_names_the_video(root):
    (root / 'JPEGImages' / 'vid_001.zip').write_bytes(b'not a zip at all')
    ds = VideoInpaintingDataset(str(root), ann_file='train.json', seed=0)
    with pytest.raises(ValueError, match=r"vid_001.*not a readable zip.*re-create"):
        ds[1]


def test_frame_count_mismatch_names_the_video(root):
    counts = json.loads((root / 'train.json').read_text())
    counts['vid_002'] = NUM_FRAMES + 3
    (root / 'train.json').write_text(json.dumps(counts))
    ds = VideoInpaintingDataset(str(root), ann_file='train.json', seed=0)
    with pytest.raises(ValueError, match=rf"vid_002.*says {NUM_FRAMES + 3} frames.*holds {NUM_FRAMES}"):
        ds[2]


def test_missing_video_and_missing_ann_file_fail_at_construction(root):
    (root / 'JPEGImages' / 'vid_000.zip').unlink()
    with pytest.raises(FileNotFoundError, match=r"vid_000.*remove it from the annotation file"):
        VideoInpaintingDataset(str(root), ann_file='train.json')
    with pytest.raises(FileNotFoundError, match='annotation file'):
        VideoInpaintingDataset(str(root), ann_file='train_small.json')


def test_too_short_video_names_the_fix(toy_root):
    ds = VideoInpaintingDataset(str(toy_root), ann_file='train.json', num_local_frames=10, num_ref_frames=5, seed=0)
    with pytest.raises(ValueError, match=r"vid_000.*fewer than num_local_frames \+ num_ref_frames = 15"):
        ds[0]


def test_mask_count_and_mask_size_errors(root):
    ds = VideoInpaintingDataset(str(root), ann_file='test.json', test_mode=True)
    name = ds.get_data_info(0)['video_name']
    (root / 'test_masks' / name / f'{NUM_FRAMES - 1:05d}.png').unlink()
    with pytest.raises(ValueError, match=rf"{name}.*{NUM_FRAMES - 1} masks.*{NUM_FRAMES} frames"):
        ds[0]
    other = ds.get_data_info(1)['video_name']
    Image.fromarray(np.zeros((TOY_H // 2, TOY_W), np.uint8)).save(root / 'test_masks' / other / '00003.png')
    with pytest.raises(ValueError, match=rf"{other}.*00003.png is {TOY_H // 2}x{TOY_W}.*{TOY_H}x{TOY_W}"):
        ds[1]


def test_corrupt_frame_names_the_file(root):
    path = root / 'JPEGImages' / 'vid_000.zip'
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    entries['00002.jpg'] = b'garbage'
    with zipfile.ZipFile(path, 'w') as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    ds = VideoInpaintingDataset(str(root), ann_file='train.json', test_mode=True, mask_dir=None)
    with pytest.raises(ValueError, match=r"00002.jpg of .*vid_000.zip is not a decodable image"):
        ds[0]
