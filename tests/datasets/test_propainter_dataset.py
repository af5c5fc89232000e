"""ProPainterDataset on the toy ProPainter layout: official sampling and resizing, short videos left out, flows
read in the official naming, flip and temporal reversal consistent across frames, holes and flows, DAVIS-style
test masks, clear errors."""
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from PIL import Image

from seg.apis.dataset_preparation import compute_flows
from seg.datasets.propainter_dataset import ProPainterDataset
from seg.datasets.transforms.free_form_masks import dilate_test_mask
from seg.datasets.video_inpainting_dataset import VideoInpaintingDataError
from seg.fileio import InputError
from seg.fileio.flow_files import FlowFileError, flow_pair_names, read_flow, write_flow
from seg.fileio.palette import davis_palette, write_palette_png
from seg.registry import DATASETS
from seg.toy_data import make_propainter

NUM_FRAMES = 12
TOY_H, TOY_W = 48, 80
FRAME_DIR = 'JPEGImages_432_240'
# Short clips keep the tests fast: 4 local + 2 reference frames of the 12.
CLIP = dict(num_local_frames=4, num_ref_frames=2)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    return make_propainter(tmp_path_factory.mktemp('propainter'), num_train=3, num_val=1, num_frames=NUM_FRAMES,
                           height=TOY_H, width=TOY_W)


@pytest.fixture
def root(toy_root, tmp_path):
    """A private copy of the toy data, free to break."""
    return Path(shutil.copytree(toy_root, tmp_path / 'propainter'))


def coded_flow(stem: str, forward: bool) -> np.ndarray:
    """(H, W, 2) flow whose values say which file it came from: x varies along the row (flip shows), y codes stem."""
    index = int(stem)
    ramp = np.broadcast_to(np.arange(TOY_W, dtype=np.float32) / 8, (TOY_H, TOY_W))
    if forward:
        return np.stack([ramp + index, np.full((TOY_H, TOY_W), index + 0.5, np.float32)], -1)
    return np.stack([ramp - index, np.full((TOY_H, TOY_W), -index - 0.5, np.float32)], -1)


@pytest.fixture(scope='module')
def coded_root(toy_root, tmp_path_factory):
    """The toy data with coded flows (:func:`coded_flow`) under Flows_flo, float32 .flo."""
    root = Path(shutil.copytree(toy_root, tmp_path_factory.mktemp('coded') / 'propainter'))
    for video in (root / FRAME_DIR).iterdir():
        for t in range(NUM_FRAMES - 1):
            a, b = f'{t:05d}', f'{t + 1:05d}'
            forward_name, backward_name = flow_pair_names(a, b)
            write_flow(root / 'Flows_flo' / video.name / forward_name, coded_flow(a, True))
            write_flow(root / 'Flows_flo' / video.name / backward_name, coded_flow(b, False))
    return root


def read_frames(root, video, ids, size=None):
    """(T, H, W, 3) uint8 RGB toy frames, decoded and resized (OpenCV bilinear) independently of the dataset."""
    frames = []
    for i in ids:
        frame = cv2.cvtColor(cv2.imread(str(root / FRAME_DIR / video / f'{i:05d}.jpg')), cv2.COLOR_BGR2RGB)
        frames.append(frame if size is None else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    return np.stack(frames)


def to_hwc(frames):
    return frames.permute(0, 2, 3, 1).numpy()


def expected_flows(frame_ids):
    """The coded flows an item with these local frame ids must carry: flow i maps frame i onto frame i + 1."""
    forward, backward = [], []
    for a, b in zip(frame_ids[:-1], frame_ids[1:]):
        assert abs(a - b) == 1
        forward.append(coded_flow(f'{a:05d}', True) if b == a + 1 else coded_flow(f'{a:05d}', False))
        backward.append(coded_flow(f'{b:05d}', False) if b == a + 1 else coded_flow(f'{b:05d}', True))
    return np.stack(forward).transpose(0, 3, 1, 2), np.stack(backward).transpose(0, 3, 1, 2)


def flipped_flows(flows):
    """(N, 2, H, W) flows flipped left-right with x negated."""
    out = flows[..., ::-1].copy()
    out[:, 0] *= -1
    return out


def test_train_item_follows_the_official_sampling_and_resizing(toy_root):
    ds = ProPainterDataset(str(toy_root), ann_file='train.json', seed=0, size=(64, 40), **CLIP)
    assert len(ds) == 3
    item = ds[1]
    sample = item['data_samples']
    assert set(sample.metainfo) == {'video_name', 'frame_ids', 'ori_shape', 'flipped', 'reversed'}
    assert set(sample.keys()) == {'masks'}  # no flows without flow_dir
    assert item['inputs'].shape == (6, 3, 40, 64) and item['inputs'].dtype == torch.uint8
    assert sample.masks.shape == (6, 1, 40, 64) and sample.masks.dtype == torch.uint8
    assert set(sample.masks.unique().tolist()) == {0, 1}
    assert sample.ori_shape == (TOY_H, TOY_W)
    local, refs = sample.frame_ids[:4], sample.frame_ids[4:]
    step = -1 if sample.reversed else 1
    assert local == list(range(local[0], local[0] + 4 * step, step))
    assert refs == sorted(refs) and len(set(refs)) == 2 and not set(refs) & set(local)
    expected = read_frames(toy_root, 'vid_001', sample.frame_ids, (64, 40))
    if sample.flipped:
        expected = expected[:, :, ::-1]
    assert np.array_equal(to_hwc(item['inputs']), expected)


def test_defaults_are_the_official_layout_and_clip(toy_root):
    ds = ProPainterDataset(str(toy_root), ann_file='train.json', lazy_init=True)
    assert ds.frame_root.endswith(FRAME_DIR) and ds.size == (432, 240)
    assert (ds.num_local_frames, ds.num_ref_frames, ds.flip_prob, ds.reverse_prob) == (10, 6, 0.5, 0.5)


def test_both_reversal_and_flip_happen_across_items(toy_root):
    ds = ProPainterDataset(str(toy_root), ann_file='train.json', size=None, **CLIP)
    np.random.seed(0)
    seen = {(ds[0]['data_samples'].reversed, ds[0]['data_samples'].flipped) for _ in range(24)}
    assert seen == {(False, False), (False, True), (True, False), (True, True)}


def test_short_videos_are_left_out_as_the_official_does(root, caplog):
    # The official keeps videos with more than num_local + num_ref frames.
    counts = json.loads((root / 'train.json').read_text())
    for t in range(6, NUM_FRAMES):
        (root / FRAME_DIR / 'vid_001' / f'{t:05d}.jpg').unlink()
    counts['vid_001'] = 6
    (root / 'train.json').write_text(json.dumps(counts))
    ds = ProPainterDataset(str(root), ann_file='train.json', size=None, seed=0, **CLIP)
    assert [ds.get_data_info(i)['video_name'] for i in range(len(ds))] == ['vid_000', 'vid_002']
    no_json = ProPainterDataset(str(root), size=None, seed=0, num_local_frames=5, num_ref_frames=1)
    assert 'vid_001' not in [no_json.get_data_info(i)['video_name'] for i in range(len(no_json))]
    with pytest.raises(VideoInpaintingDataError, match=r'no video .* more than .* = 12 frames'):
        ProPainterDataset(str(root), ann_file='train.json', num_local_frames=10, num_ref_frames=2)


def test_flows_are_read_in_the_official_naming_for_the_local_frames(coded_root):
    ds = ProPainterDataset(str(coded_root), ann_file='train.json', flow_dir='Flows_flo', size=None, seed=0,
                           flip_prob=0.0, reverse_prob=0.0, **CLIP)
    for index in range(len(ds)):
        sample = ds[index]['data_samples']
        assert sample.flows_forward.shape == (3, 2, TOY_H, TOY_W) and sample.flows_forward.dtype == torch.float32
        assert sample.flows_backward.shape == (3, 2, TOY_H, TOY_W)
        forward, backward = expected_flows(sample.frame_ids[:4])
        assert np.array_equal(sample.flows_forward.numpy(), forward)
        assert np.array_equal(sample.flows_backward.numpy(), backward)


@pytest.mark.parametrize('reverse,flip', [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_reversal_and_flip_keep_frames_holes_and_flows_together(coded_root, reverse, flip):
    kw = dict(ann_file='train.json', flow_dir='Flows_flo', size=None, seed=4, **CLIP)
    plain = ProPainterDataset(str(coded_root), flip_prob=0.0, reverse_prob=0.0, **kw)[2]
    item = ProPainterDataset(str(coded_root), flip_prob=flip, reverse_prob=reverse, **kw)[2]
    p, s = plain['data_samples'], item['data_samples']
    assert (s.reversed, s.flipped) == (bool(reverse), bool(flip))
    order = [3, 2, 1, 0, 4, 5] if reverse else list(range(6))
    assert s.frame_ids == [p.frame_ids[i] for i in order]
    frames, masks = plain['inputs'][order], p.masks[order]
    forward, backward = p.flows_forward.numpy(), p.flows_backward.numpy()
    if reverse:  # the new forward flows are the old backward ones, last first
        forward, backward = backward[::-1], forward[::-1]
    if flip:
        frames, masks = frames.flip(-1), masks.flip(-1)
        forward, backward = flipped_flows(forward), flipped_flows(backward)
    assert torch.equal(item['inputs'], frames) and torch.equal(s.masks, masks)
    assert np.array_equal(s.flows_forward.numpy(), forward) and np.array_equal(s.flows_backward.numpy(), backward)
    # And against the files: flow i still maps frame i onto frame i + 1.
    forward_files, backward_files = expected_flows(s.frame_ids[:4])
    if flip:
        forward_files, backward_files = flipped_flows(forward_files), flipped_flows(backward_files)
    assert np.array_equal(s.flows_forward.numpy(), forward_files)
    assert np.array_equal(s.flows_backward.numpy(), backward_files)


def warp_error(frames, flows):
    """Mean |frame i - frame i+1 sampled at p + flow i(p)| over the pairs: small when the flows fit the frames."""
    errors = []
    for i, flow in enumerate(flows):
        h, w = flow.shape[1:]
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        warped = cv2.remap(frames[i + 1], grid_x + flow[0], grid_y + flow[1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        errors.append(np.abs(warped.astype(np.float32) - frames[i].astype(np.float32)).mean())
    return float(np.mean(errors))


def test_real_flows_warp_the_frames_they_come_with(toy_root, tmp_path):
    """DIS flows of the toy: after reversal and flip, warping with the item's flows still fits its frames."""
    compute_flows(toy_root / FRAME_DIR, tmp_path / 'flows', videos=['vid_000'], dtype='float32')
    kw = dict(ann_file='train.json', flow_dir=str(tmp_path / 'flows'), size=None, num_local_frames=8,
              num_ref_frames=1, indices=[0])
    for seed in range(3):
        item = ProPainterDataset(str(toy_root), flip_prob=1.0, reverse_prob=1.0, seed=seed, **kw)[0]
        frames = to_hwc(item['inputs'])[:8]
        forward = item['data_samples'].flows_forward.numpy()
        backward = item['data_samples'].flows_backward.numpy()
        fitted = warp_error(frames, forward)
        # Measured on this toy: fitted ~5.2-6.0, no flow ~7.5-8.2, x not negated ~6.4-7.3, directions swapped ~10-11.
        assert fitted < 0.85 * warp_error(frames, np.zeros_like(forward))
        assert fitted < 0.9 * warp_error(frames, flipped_flows(forward))
        assert fitted < 0.7 * warp_error(frames, backward)
        assert warp_error(frames[::-1], backward[::-1]) < 0.7 * warp_error(frames[::-1], forward[::-1])


def test_flows_are_resized_with_the_frames_and_npy_works(coded_root, tmp_path):
    for video in (coded_root / 'Flows_flo').iterdir():
        for path in video.iterdir():
            write_flow(tmp_path / 'npy' / video.name / (path.stem + '.npy'), read_flow(path), 'float16')
    kw = dict(ann_file='train.json', seed=1, flip_prob=0.0, reverse_prob=0.0, **CLIP)
    full = ProPainterDataset(str(coded_root), flow_dir='Flows_flo', size=None, **kw)[0]['data_samples']
    npy = ProPainterDataset(str(coded_root), flow_dir=str(tmp_path / 'npy'), flow_format='npy', size=None,
                            **kw)[0]['data_samples']
    assert torch.allclose(npy.flows_forward, full.flows_forward, atol=0.02)
    half = ProPainterDataset(str(coded_root), flow_dir='Flows_flo', size=(TOY_W // 2, TOY_H // 2), **kw)[0]
    flows = half['data_samples'].flows_forward
    assert flows.shape == (3, 2, TOY_H // 2, TOY_W // 2) and half['inputs'].shape[-2:] == (TOY_H // 2, TOY_W // 2)
    # Vectors are rescaled to the new grid: y (constant) halves.
    assert torch.allclose(flows[:, 1], full.flows_forward[:, 1, :TOY_H // 2, :TOY_W // 2] / 2)


def test_test_mode_gives_whole_videos_fixed_masks_and_all_flows(coded_root):
    ds = ProPainterDataset(str(coded_root), ann_file='test.json', flow_dir='Flows_flo', size=None, test_mode=True)
    assert len(ds) == 1
    item = ds[0]
    sample = item['data_samples']
    assert sample.video_name == 'vid_003' and sample.frame_ids == list(range(NUM_FRAMES))
    assert not sample.flipped and not sample.reversed
    assert sample.flows_forward.shape == (NUM_FRAMES - 1, 2, TOY_H, TOY_W)
    assert np.array_equal(sample.flows_backward.numpy(), expected_flows(list(range(NUM_FRAMES)))[1])
    png = np.asarray(Image.open(coded_root / 'test_masks' / 'vid_003' / '00005.png')) > 0
    assert np.array_equal(sample.masks[5, 0].numpy(), dilate_test_mask(png))
    windows = ProPainterDataset(str(coded_root), ann_file='test.json', flow_dir='Flows_flo', size=None,
                                test_mode=True, clip_length=5)
    assert [windows[i]['data_samples'].flows_forward.shape[0] for i in range(len(windows))] == [4, 4, 1]


def test_davis_layout_with_palette_test_masks(toy_root, tmp_path):
    """DAVIS: the same layout with its own names and json, test masks one PNG per frame (here palette PNGs)."""
    root = tmp_path / 'davis'
    shutil.copytree(toy_root / FRAME_DIR / 'vid_003', root / FRAME_DIR / 'bear')
    holes = []
    for t in range(NUM_FRAMES):
        hole = np.zeros((TOY_H, TOY_W), np.uint8)
        hole[10 + t:20 + t, 5:30] = 1
        holes.append(hole)
        write_palette_png(root / 'test_masks' / 'bear' / f'{t:05d}.png', hole, davis_palette())
    (root / 'test.json').write_text(json.dumps({'bear': NUM_FRAMES}))
    item = ProPainterDataset(str(root), ann_file='test.json', test_mode=True, dilate_masks=False, size=None)[0]
    assert item['data_samples'].video_name == 'bear'
    assert np.array_equal(item['data_samples'].masks[:, 0].numpy(), np.stack(holes))
    resized = ProPainterDataset(str(root), ann_file='test.json', test_mode=True)[0]
    assert resized['inputs'].shape == (NUM_FRAMES, 3, 240, 432)
    assert np.array_equal(to_hwc(resized['inputs']), read_frames(root, 'bear', range(NUM_FRAMES), (432, 240)))


def test_builds_from_the_registry_and_batches(coded_root):
    ds = DATASETS.build(dict(type='ProPainterDataset', data_root=str(coded_root), ann_file='train.json',
                             flow_dir='Flows_flo', size=None, **CLIP))
    batch = pseudo_collate([ds[0], ds[1]])
    assert len(batch['inputs']) == 2 and batch['data_samples'][1].flows_backward.shape == (3, 2, TOY_H, TOY_W)


def test_bad_input_gives_clear_input_errors(coded_root, tmp_path):
    root = Path(shutil.copytree(coded_root, tmp_path / 'broken'))
    kw = dict(ann_file='train.json', size=None, seed=0, flip_prob=0.0, reverse_prob=0.0, **CLIP)
    with pytest.raises(FlowFileError, match=r'flow folder .*Flows_npy does not exist.*compute_flow.py'):
        ProPainterDataset(str(root), flow_dir='Flows_npy', **kw)
    counts = json.loads((root / 'train.json').read_text())
    counts['vid_002'] = NUM_FRAMES + 2
    (root / 'train.json').write_text(json.dumps(counts))
    ds = ProPainterDataset(str(root), flow_dir='Flows_flo', **kw)
    with pytest.raises(VideoInpaintingDataError, match=rf"vid_002.*says {NUM_FRAMES + 2} frames.*holds {NUM_FRAMES}"):
        ds[2]
    first = ds[0]['data_samples'].frame_ids[0]
    name = flow_pair_names(f'{first + 1:05d}', f'{first + 2:05d}')[1]
    (root / 'Flows_flo' / 'vid_000' / name).unlink()
    with pytest.raises(FlowFileError, match=rf"vid_000.*{name} does not exist.*compute_flow.py"):
        ds[0]
    second = ds[1]['data_samples'].frame_ids[0]
    name = flow_pair_names(f'{second:05d}', f'{second + 1:05d}')[0]
    write_flow(root / 'Flows_flo' / 'vid_001' / name, np.zeros((TOY_H, TOY_W - 8, 2), np.float32))
    with pytest.raises(FlowFileError, match=rf"vid_001.*{name} is {TOY_H}x{TOY_W - 8} but the frames are "
                                            rf"{TOY_H}x{TOY_W}.*recompute"):
        ds[1]
    assert issubclass(FlowFileError, InputError) and issubclass(VideoInpaintingDataError, InputError)
    with pytest.raises(ValueError, match='flow_format'):
        ProPainterDataset(str(root), flow_format='png', **kw)
