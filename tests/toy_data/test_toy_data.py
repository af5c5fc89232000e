"""Tests of the toy-data generator (seg/toy_data/) and its CLI."""
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import seg.toy_data as td

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / 'tools' / 'data' / 'make_toy_data.py'

# Small sizes shared by every layout-level test.
SMALL = dict(num_videos=2, num_val_videos=1, num_frames=6, height=48, width=64, num_images=4, num_val_images=2)
SMALL_COCO_HW = (48, 64)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('toy')
    td.make_all(root, seed=0, **SMALL)
    return root


def _files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def _png(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def _rgb2id(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


# ----------------------------------------------------------------------------------------------
# Renderer
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize('seed', range(8))
def test_render_video_invariants(seed):
    t_len, h, w, k_objs = 10, 48, 64, 3 + seed % 2
    v = td.render_video(seed, num_frames=t_len, height=h, width=w, num_objects=k_objs)
    assert v.frames.shape == (t_len, h, w, 3) and v.frames.dtype == np.uint8
    assert v.masks.shape == (t_len, h, w) and v.masks.dtype == np.uint8
    assert v.amodal.shape == (t_len, k_objs, h, w) and v.amodal.dtype == bool
    assert set(np.unique(v.masks)) <= set(range(k_objs + 1))
    # The id map is the depth-ordered composition of the full shapes.
    assert np.array_equal(v.masks > 0, v.amodal.any(1))
    for k in range(1, k_objs + 1):
        assert not np.any((v.masks == k) & ~v.amodal[:, k - 1])

    # The late object: nothing (not even its full shape) before it enters, visible from then on.
    late = v.late_object
    assert late == k_objs
    enter = v.enter_frame[late - 1]
    assert 1 <= enter < t_len and v.first_frame[late - 1] == enter
    assert not (v.masks[:enter] == late).any() and not v.amodal[:enter, late - 1].any()
    assert (v.masks[enter] == late).any()
    # Every other object is in frame 0 with at least 30% of its shape visible.
    for k in range(1, k_objs):
        assert v.first_frame[k - 1] == 0
        assert (v.masks[0] == k).sum() >= 0.3 * v.amodal[0, k - 1].sum() > 0

    # Occlusion: the crossing objects' full shapes overlap, and the overlap goes to the front one
    # (or to something nearer still), never to the one behind.
    a, b, t_c = v.crossing
    overlap = v.amodal[t_c, a - 1] & v.amodal[t_c, b - 1]
    assert overlap.any()
    back, front = sorted((a, b), key=lambda k: v.depth[k - 1])
    owners = set(np.unique(v.masks[t_c][overlap]).tolist())
    assert back not in owners and all(v.depth[o - 1] >= v.depth[front - 1] for o in owners)

    # Objects stay mostly in frame: every centre inside the frame while drawn.
    drawn = np.arange(t_len)[None, :] >= np.array(v.enter_frame)[:, None]
    inside = ((v.centres >= -0.5) & (v.centres <= np.array([w, h]) - 0.5)).all(-1)
    assert inside[:late - 1].all() and inside[late - 1, enter + 1:].all() and drawn[:late - 1].all()

    # Textured, not flat: pixel spread under each object and over the background.
    for k in range(1, k_objs + 1):
        t = v.first_frame[k - 1]
        sel = v.masks[t] == k
        if sel.sum() >= 20:
            assert v.frames[t][sel].astype(float).std(0).max() > 5
    assert v.frames[0][v.masks[0] == 0].astype(float).std(0).max() > 5

    # The background pans: pure-background pixels change between consecutive frames.
    assert np.all(np.linalg.norm(np.diff(v.background_shift, axis=0), axis=1) > 0.3)
    for t in range(t_len - 1):
        bg = (v.masks[t] == 0) & (v.masks[t + 1] == 0)
        diff = np.abs(v.frames[t + 1].astype(int) - v.frames[t].astype(int))[bg]
        assert diff.mean() > 2


def test_render_video_deterministic():
    a, b = td.render_video(3, 5, 32, 48, 3), td.render_video(3, 5, 32, 48, 3)
    c = td.render_video(4, 5, 32, 48, 3)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.frames, c.frames)


def test_render_video_small_counts():
    v = td.render_video(0, num_frames=1, height=16, width=16, num_objects=1)
    assert v.frames.shape == (1, 16, 16, 3) and v.late_object == 0 and v.crossing == (0, 0, 0)
    v = td.render_video(0, num_frames=2, height=24, width=24, num_objects=5)
    assert v.late_object == 5 and v.enter_frame[4] == 1
    with pytest.raises(ValueError):
        td.render_video(0, num_frames=0)


def test_rle_uncompressed_roundtrip():
    from pycocotools import mask as mask_utils
    rng = np.random.default_rng(0)
    for m in (rng.random((7, 5)) > 0.5, np.ones((3, 4), bool), np.zeros((3, 4), bool)):
        rle = td.rle_uncompressed(m)
        assert sum(rle['counts']) == m.size
        dec = mask_utils.decode(mask_utils.frPyObjects(rle, *m.shape))
        assert np.array_equal(dec.astype(bool), m)


def test_categories():
    cats = td.coco_panoptic_categories()
    assert [(c['id'], c['name'], c['isthing']) for c in cats] == [
        (1, 'disk', 1), (2, 'box', 1), (3, 'triangle', 1), (4, 'wall', 0), (5, 'floor', 0)]
    assert td.COCO_PANOPTIC_CLASSES == td.COCO_THING_CLASSES + td.COCO_STUFF_CLASSES
    assert [c['name'] for c in td.video_categories()] == list(td.VIDEO_CLASSES)
    pal = td.davis_palette()
    assert pal.shape == (256, 3) and pal[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]


# ----------------------------------------------------------------------------------------------
# Layouts
# ----------------------------------------------------------------------------------------------
def test_davis_layout(toy_root):
    root = toy_root / 'davis'
    sets = root / 'ImageSets' / '2017'
    assert (sets / 'train.txt').read_text().split() == ['vid_000', 'vid_001']
    assert (sets / 'val.txt').read_text().split() == ['vid_002']
    index = {'vid_000': ('train', 0), 'vid_001': ('train', 1), 'vid_002': ('val', 0)}
    for seq, (split, i) in index.items():
        jpgs = sorted((root / 'JPEGImages' / '480p' / seq).glob('*.jpg'))
        pngs = sorted((root / 'Annotations' / '480p' / seq).glob('*.png'))
        assert [p.stem for p in jpgs] == [p.stem for p in pngs] == [f'{t:05d}' for t in range(6)]
        video = td.render_layout_video('davis', 0, split, i, 6, 48, 64)
        k_objs = video.num_objects
        masks = []
        for t, p in enumerate(pngs):
            im = Image.open(p)
            assert im.mode == 'P' and im.size == (64, 48)
            assert np.array(im.getpalette()[:3 * 256], np.uint8).reshape(-1, 3)[:k_objs + 1].tolist() == \
                td.davis_palette()[:k_objs + 1].tolist()
            masks.append(np.array(im))
            frame = np.array(Image.open(jpgs[t]).convert('RGB')).astype(int)
            assert frame.shape == (48, 64, 3) and np.abs(frame - video.frames[t]).mean() < 8
        masks = np.stack(masks)
        assert np.array_equal(masks, video.masks)
        assert set(np.unique(masks)) == set(range(k_objs + 1))
        late = video.late_object
        assert late == k_objs and not (masks[0] == late).any() and (masks[1:] == late).any()
        # On disk too, the crossing pair's overlap belongs to one object only: the front one or nearer.
        a, b, t_c = video.crossing
        overlap = video.amodal[t_c, a - 1] & video.amodal[t_c, b - 1]
        back = min((a, b), key=lambda k: video.depth[k - 1])
        assert overlap.any() and not (masks[t_c][overlap] == back).any() and (masks[t_c][overlap] > 0).all()


def test_ytvos_layout(toy_root):
    root = toy_root / 'ytvos'
    meta = {s: json.loads((root / s / 'meta.json').read_text())['videos'] for s in ('train', 'valid')}
    assert sorted(meta['train']) == ['vid_000', 'vid_001'] and sorted(meta['valid']) == ['vid_002']
    for vid, info in meta['train'].items():
        assert len(list((root / 'train' / 'JPEGImages' / vid).glob('*.jpg'))) == 6
        pngs = sorted((root / 'train' / 'Annotations' / vid).glob('*.png'))
        assert len(pngs) == 6
        masks = np.stack([_png(p) for p in pngs])
        assert all(Image.open(p).mode == 'P' for p in pngs)
        assert sorted(info['objects'], key=int) == [str(k) for k in range(1, masks.max() + 1)]
        for k, obj in info['objects'].items():
            assert obj['category'] in td.VIDEO_CLASSES
            assert obj['frames'] == [f'{t:05d}' for t in range(6) if (masks[t] == int(k)).any()]
        assert '00000' not in info['objects'][str(masks.max())]['frames']  # the late object
    video = td.render_layout_video('ytvos', 0, 'val', 0, 6, 48, 64)
    info = meta['valid']['vid_002']['objects']
    assert len(list((root / 'valid' / 'JPEGImages' / 'vid_002').glob('*.jpg'))) == 6
    firsts = {k + 1: f for k, f in enumerate(video.first_frame)}
    pngs = {int(p.stem): _png(p) for p in (root / 'valid' / 'Annotations' / 'vid_002').glob('*.png')}
    assert sorted(pngs) == sorted(set(firsts.values())) and len(pngs) == 2  # frame 0 and the late entry
    for t, m in pngs.items():
        new = {k for k, f in firsts.items() if f == t}
        assert set(np.unique(m)) - {0} == new
        assert np.array_equal(m, np.where(np.isin(video.masks[t], list(new)), video.masks[t], 0))
    for k, obj in info.items():
        assert obj['frames'] == [f'{t:05d}' for t in range(firsts[int(k)], 6)]
        assert obj['category'] == video.shapes[int(k) - 1]


def test_e2fgvi_layout(toy_root):
    root = toy_root / 'e2fgvi'
    train = json.loads((root / 'train.json').read_text())
    test = json.loads((root / 'test.json').read_text())
    assert train == {'vid_000': 6, 'vid_001': 6} and test == {'vid_002': 6}
    for vid, n in {**train, **test}.items():
        with zipfile.ZipFile(root / 'JPEGImages' / f'{vid}.zip') as zf:
            names = zf.namelist()
            assert names == [f'{t:05d}.jpg' for t in range(n)]
            img = Image.open(io.BytesIO(zf.read(names[-1])))
            assert img.size == (64, 48) and img.mode == 'RGB'
    assert sorted(p.name for p in (root / 'test_masks').iterdir()) == ['vid_002']
    video = td.render_layout_video('e2fgvi', 0, 'val', 0, 6, 48, 64)
    masks = sorted((root / 'test_masks' / 'vid_002').glob('*.png'))
    assert len(masks) == 6
    for t, p in enumerate(masks):
        im = Image.open(p)
        m = np.array(im)
        assert im.mode == 'L' and set(np.unique(m)) <= {0, 255}
        obj = video.masks[t] > 0
        assert (m[obj] == 255).all() and (m == 255).sum() > obj.sum()  # covers the objects, dilated


def test_propainter_layout(toy_root):
    root = toy_root / 'propainter'
    train = json.loads((root / 'train.json').read_text())
    test = json.loads((root / 'test.json').read_text())
    assert train == {'vid_000': 6, 'vid_001': 6} and test == {'vid_002': 6}
    assert sorted(p.name for p in (root / 'JPEGImages_432_240').iterdir()) == ['vid_000', 'vid_001', 'vid_002']
    video = td.render_layout_video('propainter', 0, 'val', 0, 6, 48, 64)
    for vid, n in {**train, **test}.items():
        frames = sorted((root / 'JPEGImages_432_240' / vid).iterdir())
        assert [p.name for p in frames] == [f'{t:05d}.jpg' for t in range(n)]
        img = Image.open(frames[-1])
        assert img.size == (64, 48) and img.mode == 'RGB'
    last = np.asarray(Image.open(root / 'JPEGImages_432_240' / 'vid_002' / '00005.jpg'), np.float32)
    assert np.abs(last - video.frames[5]).mean() < 8  # the rendered frame, JPEG-encoded (q 90: ~4.4)
    assert sorted(p.name for p in (root / 'test_masks').iterdir()) == ['vid_002']
    masks = sorted((root / 'test_masks' / 'vid_002').glob('*.png'))
    assert [p.name for p in masks] == [f'{t:05d}.png' for t in range(6)]
    for t, p in enumerate(masks):
        im = Image.open(p)
        m = np.array(im)
        assert im.mode == 'L' and set(np.unique(m)) <= {0, 255}
        obj = video.masks[t] > 0
        assert (m[obj] == 255).all() and (m == 255).sum() > obj.sum()  # covers the objects, dilated
    # A different layout code: not the e2fgvi videos.
    assert not np.array_equal(video.frames, td.render_layout_video('e2fgvi', 0, 'val', 0, 6, 48, 64).frames)


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_panoptic_layout(toy_root, split):
    from pycocotools.coco import COCO

    root = toy_root / 'coco_panoptic'
    pan = json.loads((root / 'annotations' / f'panoptic_{split}2017.json').read_text())
    assert pan['categories'] == td.coco_panoptic_categories()
    cats = {c['id']: c for c in pan['categories']}
    assert len(pan['images']) == len(pan['annotations']) == (4 if split == 'train' else 2)
    h, w = SMALL_COCO_HW
    n_crowd = n_void = n_things = 0
    for img, ann in zip(pan['images'], pan['annotations']):
        assert ann['image_id'] == img['id'] and (img['height'], img['width']) == (h, w)
        assert Image.open(root / f'{split}2017' / img['file_name']).size == (w, h)
        png = Image.open(root / 'annotations' / f'panoptic_{split}2017' / ann['file_name'])
        assert png.mode == 'RGB'
        ids = _rgb2id(np.array(png))
        segs = ann['segments_info']
        assert set(np.unique(ids).tolist()) - {0} == {s['id'] for s in segs}
        assert len({s['id'] for s in segs}) == len(segs)
        for s in segs:
            m = ids == s['id']
            ys, xs = np.nonzero(m)
            assert s['area'] == int(m.sum())
            assert s['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert s['category_id'] in cats and s['iscrowd'] in (0, 1)
            assert not s['iscrowd'] or cats[s['category_id']]['isthing']
        assert {s['category_id'] for s in segs} >= {4, 5}  # wall and floor in every image
        n_crowd += sum(s['iscrowd'] for s in segs)
        n_things += sum(cats[s['category_id']]['isthing'] for s in segs)
        n_void += int((ids == 0).sum())
    assert n_crowd >= 1 and n_void >= 1 and n_things >= 2 * len(pan['images'])

    coco = COCO(str(root / 'annotations' / f'instances_{split}2017.json'))
    assert sorted(coco.getCatIds()) == [1, 2, 3]
    assert len(coco.getAnnIds()) == n_things
    assert sum(a['iscrowd'] for a in coco.loadAnns(coco.getAnnIds())) == n_crowd
    pan_by_image = {a['image_id']: a for a in pan['annotations']}
    ious = []
    for a in coco.loadAnns(coco.getAnnIds()):
        png = root / 'annotations' / f'panoptic_{split}2017' / pan_by_image[a['image_id']]['file_name']
        seg = [s for s in pan_by_image[a['image_id']]['segments_info']
               if s['bbox'] == a['bbox'] and s['area'] == a['area'] and s['category_id'] == a['category_id']]
        assert len(seg) == 1
        target = _rgb2id(np.array(Image.open(png))) == seg[0]['id']
        m = coco.annToMask(a).astype(bool)
        if a['iscrowd']:
            assert isinstance(a['segmentation']['counts'], list) and np.array_equal(m, target)
        else:
            assert isinstance(a['segmentation'], list) and all(len(p) >= 6 for p in a['segmentation'])
            ious.append((m & target).sum() / (m | target).sum())
    assert np.mean(ious) > 0.7  # polygons (outer contours) approximate the panoptic masks


def test_ytvis_layout(toy_root):
    from pycocotools import mask as mask_utils
    root = toy_root / 'ytvis'
    for split, folder, vids in (('train', 'train', ['vid_000', 'vid_001']), ('valid', 'valid', ['vid_002'])):
        data = json.loads((root / 'annotations' / f'youtube_vis_2019_{split}.json').read_text())
        assert data['categories'] == td.video_categories()
        assert [v['file_names'][0].split('/')[0] for v in data['videos']] == vids
        for i, v in enumerate(data['videos']):
            assert v['length'] == len(v['file_names']) == 6 and (v['height'], v['width']) == (48, 64)
            assert all((root / folder / 'JPEGImages' / f).is_file() for f in v['file_names'])
            video = td.render_layout_video('ytvis', 0, 'train' if split == 'train' else 'val', i, 6, 48, 64)
            anns = [a for a in data['annotations'] if a['video_id'] == v['id']]
            assert len(anns) == video.num_objects
            for k, a in enumerate(anns, 1):
                assert a['category_id'] == td.VIDEO_CLASSES.index(video.shapes[k - 1]) + 1 and a['iscrowd'] == 0
                assert len(a['segmentations']) == len(a['bboxes']) == len(a['areas']) == 6
                for t, rle in enumerate(a['segmentations']):
                    target = video.masks[t] == k
                    if rle is None:
                        assert not target.any() and a['areas'][t] is None and a['bboxes'][t] is None
                    else:
                        m = mask_utils.decode(mask_utils.frPyObjects(rle, 48, 64)).astype(bool)
                        assert np.array_equal(m, target) and a['areas'][t] == target.sum()
            assert anns[-1]['segmentations'][0] is None  # the late object
        assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])


def test_static_layout(toy_root):
    root = toy_root / 'static'
    for split, name, count in (('train', 'DUTS-TR', 4), ('val', 'DUTS-TE', 2)):
        jpgs = sorted((root / name / f'{name}-Image').iterdir())
        pngs = sorted((root / name / f'{name}-Mask').iterdir())
        assert [p.name for p in jpgs] == [f'img_{i:05d}.jpg' for i in range(count)]
        assert [p.name for p in pngs] == [f'img_{i:05d}.png' for i in range(count)]
        for i, (jpg, png) in enumerate(zip(jpgs, pngs)):
            sample = td.render_layout_static_image(0, split, i, 48, 64)
            im = Image.open(png)
            assert im.mode == 'L' and im.size == (64, 48)
            mask = np.array(im)
            assert set(np.unique(mask)) == {0, 255} and np.array_equal(mask == 255, sample.mask)
            frame = np.array(Image.open(jpg).convert('RGB')).astype(int)
            assert frame.shape == (48, 64, 3) and np.abs(frame - sample.image).mean() < 12  # JPEG loss
            assert 0.03 < sample.mask.mean() < 0.8  # a salient object, neither a speck nor the whole image


def test_render_static_image():
    a, b, c = td.render_static_image(5, 40, 56), td.render_static_image(5, 40, 56), td.render_static_image(6, 40, 56)
    assert a.image.shape == (40, 56, 3) and a.image.dtype == np.uint8 and a.mask.shape == (40, 56)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.shapes == b.shapes
    assert not np.array_equal(a.image, c.image)
    for seed in range(6):
        sample = td.render_static_image(seed, 48, 64, min_objects=1, max_objects=2)
        assert 1 <= len(sample.shapes) <= 2 and set(sample.shapes) <= set(td.VIDEO_CLASSES)
        # The object stands out: its colours differ from the background's.
        fg, bg = sample.image[sample.mask].astype(float), sample.image[~sample.mask].astype(float)
        assert np.abs(fg.mean(0) - bg.mean(0)).max() > 10 or fg.std(0).max() > bg.std(0).max()


# ----------------------------------------------------------------------------------------------
# Determinism, idempotence, atomicity
# ----------------------------------------------------------------------------------------------
def test_deterministic(toy_root, tmp_path):
    td.make_all(tmp_path / 'same', seed=0, **SMALL)
    a, b = _files(toy_root), _files(tmp_path / 'same')
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    td.make_all(tmp_path / 'other', seed=1, **SMALL)
    c = _files(tmp_path / 'other')
    for key in ('davis/Annotations/480p/vid_000/00000.png', 'ytvos/train/meta.json',
                'e2fgvi/JPEGImages/vid_000.zip', 'coco_panoptic/annotations/panoptic_train2017.json',
                'propainter/JPEGImages_432_240/vid_000/00000.jpg', 'propainter/test_masks/vid_002/00000.png',
                'ytvis/annotations/youtube_vis_2019_train.json', 'static/DUTS-TR/DUTS-TR-Mask/img_00000.png'):
        assert c[key] != a[key], key


def _mtimes(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob('*')}


def _siblings(root: Path) -> list:
    return sorted(p.name for p in root.parent.iterdir() if p.name.startswith(f'.{root.name}.'))


def test_idempotent_and_regenerated(tmp_path):
    root = tmp_path / 'davis'
    kw = dict(num_train=1, num_val=1, num_frames=3, height=32, width=48)
    assert td.make_layout('davis', root, seed=0, **kw) == (root, True)
    before, inode = _mtimes(root), root.stat().st_ino
    assert td.make_layout('davis', root, seed=0, **kw) == (root, False)
    assert td.make_davis(root, **kw) == root
    assert _mtimes(root) == before and root.stat().st_ino == inode
    meta = json.loads((root / td.META_FILE).read_text())
    assert meta['seed'] == 0 and meta['params']['num_frames'] == 3 and meta['layout'] == 'davis'

    assert td.make_layout('davis', root, seed=0, **{**kw, 'num_frames': 4}) == (root, True)
    assert len(list((root / 'JPEGImages' / '480p' / 'vid_000').glob('*.jpg'))) == 4
    assert json.loads((root / td.META_FILE).read_text())['params']['num_frames'] == 4
    assert td.make_layout('davis', root, seed=1, **{**kw, 'num_frames': 4})[1]
    assert td.make_layout('davis', root, seed=1, force=True, **{**kw, 'num_frames': 4})[1]
    assert _siblings(root) == []


def test_interrupted_run_leaves_no_partial_data(tmp_path, monkeypatch):
    root = tmp_path / 'davis'
    kw = dict(num_train=1, num_val=1, num_frames=3, height=32, width=48)
    td.make_layout('davis', root, **kw)
    before = _files(root)

    def broken_writer(out, seed, **params):
        (out / 'half_written.txt').write_text('x')
        raise KeyboardInterrupt

    monkeypatch.setitem(td.layouts.WRITERS, 'davis', broken_writer)
    with pytest.raises(KeyboardInterrupt):
        td.make_layout('davis', root, **{**kw, 'num_frames': 5})
    assert _files(root) == before and _siblings(root) == []
    fresh = tmp_path / 'fresh' / 'davis'
    with pytest.raises(KeyboardInterrupt):
        td.make_layout('davis', fresh, **kw)
    assert not fresh.exists() and _siblings(fresh) == []
    monkeypatch.undo()

    # Leftovers of a killed run (its process is gone) are cleaned up by the next generation.
    stale = root.parent / '.davis.tmp-999999999-dead'
    (stale / 'JPEGImages').mkdir(parents=True)
    td.make_layout('davis', root, **{**kw, 'num_frames': 5})
    assert not stale.exists() and _siblings(root) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        td.make_layout('nope', tmp_path / 'x')
    with pytest.raises(TypeError):
        td.make_layout('davis', tmp_path / 'x', num_images=3)
    with pytest.raises(ValueError):
        td.make_layout('davis', tmp_path / 'x', height=8)
    assert not (tmp_path / 'x').exists()


def test_layout_kwargs():
    assert td.layout_kwargs('davis') == {}
    assert td.layout_kwargs('davis', num_videos=6, num_frames=5) == dict(num_train=6, num_val=3, num_frames=5)
    assert td.layout_kwargs('coco_panoptic', num_videos=6, num_images=10, height=64) == dict(
        num_train=10, num_val=2, height=64)
    assert td.layout_defaults('e2fgvi')['height'] == 120
    assert td.layout_kwargs('static', num_videos=6, num_images=10, height=64) == dict(
        num_train=10, num_val=2, height=64)
    assert td.layout_defaults('static') == dict(num_train=16, num_val=4, height=96, width=160, min_objects=1,
                                                 max_objects=2)


# ----------------------------------------------------------------------------------------------
# CLI and package
# ----------------------------------------------------------------------------------------------
def test_cli(tmp_path):
    env = {**os.environ, 'PYTHONPATH': ''}
    out = subprocess.run([sys.executable, str(CLI), '--help'], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and '--num-videos' in out.stdout and 'coco_panoptic' in out.stdout
    cmd = [sys.executable, str(CLI), '--out', str(tmp_path / 'toy'), '--layouts', 'davis', 'coco_panoptic',
           '--num-videos', '1', '--num-frames', '3', '--height', '32', '--width', '48', '--num-images', '2']
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [x for x in out.stdout.splitlines() if x.startswith(('davis:', 'coco_panoptic:'))]
    assert len(lines) == 2 and all(': generated ' in x for x in lines)
    assert (tmp_path / 'toy' / 'davis' / 'ImageSets' / '2017' / 'val.txt').read_text().split() == ['vid_001']
    pan = json.loads((tmp_path / 'toy' / 'coco_panoptic' / 'annotations' / 'panoptic_val2017.json').read_text())
    assert len(pan['images']) == 1 and pan['images'][0]['height'] == 32
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.count(': up to date ') == 2
    bad = subprocess.run([sys.executable, str(CLI), '--layouts', 'nope'], capture_output=True, env=env)
    assert bad.returncode != 0


def test_cli_static(tmp_path):
    env = {**os.environ, 'PYTHONPATH': ''}
    cmd = [sys.executable, str(CLI), '--out', str(tmp_path / 'toy'), '--layouts', 'static', '--num-images', '3',
           '--height', '32', '--width', '48']
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert 'static: generated ' in out.stdout and '3+1 images 32x48' in out.stdout
    root = tmp_path / 'toy' / 'static'
    assert len(list((root / 'DUTS-TR' / 'DUTS-TR-Image').glob('*.jpg'))) == 3
    assert len(list((root / 'DUTS-TE' / 'DUTS-TE-Mask').glob('*.png'))) == 1
