"""YouTube-VOS evaluation: lazy videos with objects appearing later, XMem tracking them, the server zip."""
import shutil
import zipfile

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import FUNCTIONS
from PIL import Image

from seg.fileio.palette import read_palette_png, write_palette_png
from seg.toy_data import davis_palette, make_ytvos
from seg.datasets.video_collate import video_collate
from seg.datasets.vos_clip_dataset import VOSDataError
from seg.datasets.ytvos_eval_dataset import YTVOSEvalDataset
from seg.evaluation.metrics.ytvos_submission_metric import YTVOSSubmissionMetric
from seg.models.xmem.xmem_vos import XMemVOS

SMALL = dict(key_dim=16, value_dim=32, hidden_dim=8)


@pytest.fixture(scope='module')
def ytvos(tmp_path_factory):
    return make_ytvos(tmp_path_factory.mktemp('ytvos') / 'ytvos', num_train=1, num_val=2, num_frames=8,
                      height=32, width=48)


@pytest.fixture
def sparse(ytvos, tmp_path):
    """The official split: valid/JPEGImages holds every 2nd frame, all_frames/ every frame."""
    root = tmp_path / 'yt'
    shutil.copytree(ytvos / 'valid', root / 'valid')
    shutil.copytree(ytvos / 'valid' / 'JPEGImages', root / 'all_frames' / 'JPEGImages')
    for jpg in (root / 'valid' / 'JPEGImages').glob('*/*.jpg'):
        if int(jpg.stem) % 2:
            jpg.unlink()
    return root


def later_annotation(root):
    """(video, frame index) of an annotation PNG after the first frame."""
    for video in sorted((root / 'valid' / 'Annotations').iterdir()):
        later = [int(p.stem) for p in video.glob('*.png') if int(p.stem) > 0]
        if later:
            return video.name, min(later)
    raise AssertionError('the toy split has no object appearing later')


def test_items_give_masks_where_objects_first_appear(ytvos):
    ds = YTVOSEvalDataset(str(ytvos))
    name, t = later_annotation(ytvos)
    item = ds[ds.names.index(name)]
    assert len(item['frames']) == 8 and item['frames'][0].shape == (3, 32, 48)
    assert item['frames'][0].dtype == torch.float32
    assert sorted(item['given_masks']) == [0, t]
    ids, _ = read_palette_png(ytvos / 'valid' / 'Annotations' / name / f'{t:05d}.png')
    np.testing.assert_array_equal(item['given_masks'][t], ids)
    assert item['save_names'] == item['frame_names'] == [f'{i:05d}' for i in range(8)]


def test_all_frames_are_tracked_and_the_split_frames_saved(sparse):
    item = YTVOSEvalDataset(str(sparse), all_frames_root=str(sparse / 'all_frames'))[0]
    assert len(item['frames']) == 8 and item['save_names'] == [f'{i:05d}' for i in range(0, 8, 2)]


def test_xmem_tracks_later_objects_and_the_zip_holds_the_split_frames(sparse, tmp_path):
    ds = YTVOSEvalDataset(str(sparse), all_frames_root=str(sparse / 'all_frames'))
    name, t = later_annotation(sparse)
    item = ds[ds.names.index(name)]
    torch.manual_seed(0)
    batch = video_collate([item])
    results = XMemVOS(network=SMALL).eval().predict(**batch)
    pred = results[0]['pred']
    assert pred.shape == (4, 32, 48)  # frames 0, 2, 4, 6
    given = item['given_masks'][t]
    assert t % 2 == 0  # a saved frame: the new object's given mask is the prediction there
    np.testing.assert_array_equal(pred[t // 2][given > 0], given[given > 0])
    first_ids = set(np.unique(item['given_masks'][0])) - {0}
    assert not (set(np.unique(pred[:t // 2])) - first_ids - {0})  # before t only the first frame's objects
    metric = YTVOSSubmissionMetric(out_dir=str(tmp_path / 'out'))
    metric.process({}, results)
    numbers = metric.compute_metrics(metric.results)
    assert numbers == dict(videos=1, frames=4)
    with zipfile.ZipFile(tmp_path / 'out' / 'submission.zip') as archive:
        assert sorted(archive.namelist()) == [f'Annotations/{name}/{i:05d}.png' for i in range(0, 8, 2)]
    _, palette = read_palette_png(tmp_path / 'out' / 'Annotations' / name / '00000.png')
    _, given_palette = read_palette_png(sparse / 'valid' / 'Annotations' / name / '00000.png')
    np.testing.assert_array_equal(palette, given_palette)


def test_video_collate_keeps_items_whole():
    items = [dict(frame_names=['a', 'b'], given_masks={0: np.zeros(2)}), dict(frame_names=['c'], given_masks={})]
    batch = FUNCTIONS.get('video_collate')(items)
    assert batch == dict(frame_names=[['a', 'b'], ['c']], given_masks=[items[0]['given_masks'], {}])
    with pytest.raises(ValueError, match='different keys'):
        video_collate([dict(a=1), dict(b=2)])


def test_bad_input_is_named(sparse, tmp_path):
    with pytest.raises(VOSDataError, match='YouTube-VOS root'):
        YTVOSEvalDataset(str(tmp_path / 'nowhere'))
    with pytest.raises(VOSDataError, match='all_frames_root'):
        YTVOSEvalDataset(str(sparse), all_frames_root=str(tmp_path / 'nowhere'))
    video = sorted((sparse / 'valid' / 'Annotations').iterdir())[0]
    # an annotation for a frame the video does not have
    write_palette_png(video / '00099.png', np.ones((32, 48), np.uint8), davis_palette())
    with pytest.raises(VOSDataError, match="'00099'"):
        YTVOSEvalDataset(str(sparse))[0]
    (video / '00099.png').unlink()
    # a frame whose size differs from the annotations
    frame = sparse / 'valid' / 'JPEGImages' / video.name / '00002.jpg'
    Image.new('RGB', (40, 30)).save(frame)
    with pytest.raises(VOSDataError, match='30x40'):
        YTVOSEvalDataset(str(sparse))[0]['frames'][1]
    frame.write_bytes(b'not a jpeg')
    with pytest.raises(VOSDataError, match='cannot read frame'):
        YTVOSEvalDataset(str(sparse))[0]['frames'][1]
    # no annotation on the first frame
    (video / '00000.png').unlink()
    with pytest.raises(VOSDataError, match='first frame'):
        YTVOSEvalDataset(str(sparse))[0]


def test_the_server_config_parses():
    cfg = Config.fromfile('configs/xmem/xmem_ytvos19_valid.py')
    assert cfg.test_dataloader.dataset.type == 'YTVOSEvalDataset'
    assert cfg.test_dataloader.collate_fn.type == 'video_collate'
    assert cfg.test_evaluator.type == 'YTVOSSubmissionMetric'
    assert cfg.model.inference.max_internal_size == 480
