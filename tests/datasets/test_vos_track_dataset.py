"""VOSTrackDataset on toy DAVIS folders: whole videos and training clips as TrackDataSamples, first-frame prompts
equal to the first frame's ground truth, objects of the first frame only, and bad layouts named."""
import shutil

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from PIL import Image

from seg.datasets.vos_clip_dataset import VOSDataError
from seg.datasets.vos_track_dataset import VOSTrackDataset
from seg.engine.hooks.max_skip_curriculum_hook import clip_datasets
from seg.fileio.errors import InputError
from seg.fileio.palette import read_palette_png, write_palette_png
from seg.registry import DATASETS
from seg.toy_data import davis_palette, make_davis

HEIGHT, WIDTH, FRAMES = 40, 64, 8


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    return make_davis(tmp_path_factory.mktemp('vos') / 'davis', num_train=2, num_val=1, num_frames=FRAMES,
                      height=HEIGHT, width=WIDTH)


def read_ids(root, video, frame):
    return read_palette_png(root / 'Annotations' / '480p' / video / f'{frame}.png')[0]


def check_item(item, root):
    """The sample contract; returns the TrackDataSample."""
    inputs, track = item['inputs'], item['data_samples']
    assert isinstance(track, TrackDataSample)
    num_frames = len(track)
    assert inputs.dtype == torch.uint8 and inputs.shape == (num_frames, 3, HEIGHT, WIDTH)
    assert set(track.metainfo) == {'video_name', 'frame_names', 'video_length', 'palette'}
    assert len(track.frame_names) == num_frames and track.palette.shape == (256, 3)
    video = track.video_name
    first_ids = read_ids(root, video, track.frame_names[0])
    object_ids = track[0].gt_instances.instances_ids
    num = len(object_ids)
    assert object_ids.dtype == torch.long and set(object_ids.tolist()) <= set(np.unique(first_ids).tolist()) - {0}
    for t, frame in enumerate(track.video_data_samples):
        assert isinstance(frame, DetDataSample)
        name = track.frame_names[t]
        assert frame.img_path == str(root / 'JPEGImages' / '480p' / video / f'{name}.jpg')
        assert frame.ori_shape == frame.img_shape == (HEIGHT, WIDTH) and frame.frame_id == int(name)
        # BGR, as PackDetInputs packs an image mmcv read
        rgb = np.asarray(Image.open(frame.img_path).convert('RGB'))
        assert torch.equal(inputs[t], torch.from_numpy(rgb[..., ::-1].transpose(2, 0, 1).copy()))
        gt = frame.gt_instances
        assert torch.equal(gt.instances_ids, object_ids)
        assert gt.masks.dtype == torch.bool and gt.masks.shape == (num, HEIGHT, WIDTH)
        ids = torch.from_numpy(read_ids(root, video, name)).long()
        for k, object_id in enumerate(object_ids.tolist()):
            assert torch.equal(gt.masks[k], ids == object_id)
        assert ('prompts' in frame) == (t == 0)
    prompts = track[0].prompts
    assert set(prompts.keys()) == {'masks'}
    assert torch.equal(prompts.masks, track[0].gt_instances.masks) and prompts.masks.flatten(1).any(1).all()
    return track


def test_whole_videos_in_order_with_every_first_frame_object(root):
    with DefaultScope.overwrite_default_scope('seg'):
        dataset = DATASETS.build(dict(type='VOSTrackDataset', data_root=str(root), split='val', num_frames=None))
    assert len(dataset) == 1
    track = check_item(dataset[0], root)
    names = sorted(p.stem for p in (root / 'JPEGImages' / '480p' / 'vid_002').glob('*.jpg'))
    assert track.video_name == 'vid_002' and track.frame_names == names and track.video_length == FRAMES
    assert [f.frame_id for f in track] == list(range(FRAMES))
    first = read_ids(root, 'vid_002', names[0])
    assert track[0].gt_instances.instances_ids.tolist() == sorted(set(np.unique(first).tolist()) - {0, 255})
    # the late object enters after frame 0: it is in no frame's targets
    later = set(np.unique(np.stack([read_ids(root, 'vid_002', n) for n in names])).tolist()) - {0}
    late = later - set(np.unique(first).tolist())
    assert late and not late & set(track[0].gt_instances.instances_ids.tolist())


def test_training_clips(root):
    dataset = VOSTrackDataset(str(root), split='train', num_frames=3, max_skip=2, max_objects=2)
    assert len(dataset) == 2 and dataset.max_jump == 2
    directions = set()
    for seed in range(8):
        torch.manual_seed(seed)
        track = check_item(dataset[seed % 2], root)
        ids = [f.frame_id for f in track]
        assert len(ids) == 3 and len(set(ids)) == 3 and track.video_length == FRAMES
        assert ids in (sorted(ids), sorted(ids, reverse=True))
        directions.add(ids == sorted(ids))
        assert max(abs(a - b) for a, b in zip(ids, ids[1:])) <= dataset.max_jump
        assert 1 <= len(track[0].gt_instances) <= 2
    assert directions == {True, False}
    torch.manual_seed(3)
    first = dataset[0]
    torch.manual_seed(3)
    again = dataset[0]
    assert torch.equal(first['inputs'], again['inputs'])


def test_max_skip_follows_the_curriculum_and_repeat(root):
    dataset = VOSTrackDataset(str(root), num_frames=2, max_skip=1, repeat=3)
    assert len(dataset) == 6 and list(clip_datasets(dataset)) == [dataset]
    dataset.set_max_skip(7)
    assert dataset.max_jump == 7


def test_items_collate_into_lists(root):
    dataset = VOSTrackDataset(str(root), split='train', num_frames=2)
    batch = pseudo_collate([dataset[0], dataset[1]])
    assert len(batch['inputs']) == len(batch['data_samples']) == 2
    assert all(isinstance(s, TrackDataSample) for s in batch['data_samples'])


@pytest.fixture
def copy_root(root, tmp_path):
    target = tmp_path / 'davis'
    shutil.copytree(root, target)
    return target


def test_missing_annotation_or_frame_is_named(root, copy_root):
    mask = copy_root / 'Annotations' / '480p' / 'vid_000' / '00003.png'
    mask.unlink()
    with pytest.raises(VOSDataError, match=f'vid_000: 8 frames but 7 annotations; annotation {mask} is missing'):
        VOSTrackDataset(str(copy_root))
    shutil.copy(root / 'Annotations' / '480p' / 'vid_000' / '00003.png', mask)
    frame = copy_root / 'JPEGImages' / '480p' / 'vid_001' / '00005.jpg'
    frame.unlink()
    with pytest.raises(VOSDataError, match=f'vid_001: 7 frames but 8 annotations; frame {frame} is missing'):
        VOSTrackDataset(str(copy_root))


def test_wrong_sizes_are_named(copy_root):
    mask = copy_root / 'Annotations' / '480p' / 'vid_002' / '00004.png'
    write_palette_png(mask, np.zeros((HEIGHT, WIDTH + 2), np.uint8), davis_palette())
    dataset = VOSTrackDataset(str(copy_root), split='val', num_frames=None)
    with pytest.raises(VOSDataError, match=f'annotation {mask} is 66x40 but the video\'s frames are 64x40'):
        dataset[0]
    write_palette_png(mask, np.zeros((HEIGHT, WIDTH), np.uint8), davis_palette())
    frame = copy_root / 'JPEGImages' / '480p' / 'vid_002' / '00006.jpg'
    Image.new('RGB', (WIDTH, HEIGHT - 8)).save(frame)
    with pytest.raises(VOSDataError, match=f'frame {frame} is 64x32'):
        dataset[0]


def test_bad_roots_and_arguments(copy_root, tmp_path):
    with pytest.raises(VOSDataError, match='DAVIS 2017 root'):
        VOSTrackDataset(str(tmp_path / 'nowhere'))
    (copy_root / 'ImageSets' / '2017' / 'extra.txt').write_text('vid_009\n')
    with pytest.raises(VOSDataError, match=r'no frames \(\*\.jpg\) in .*/vid_009, a video .*extra\.txt lists'):
        VOSTrackDataset(str(copy_root), split='extra')
    with pytest.raises(VOSDataError, match='has 50 frames'):
        VOSTrackDataset(str(copy_root), num_frames=50)
    with pytest.raises(ValueError, match='num_frames'):
        VOSTrackDataset(str(copy_root), num_frames=0)
    assert issubclass(VOSDataError, InputError)
