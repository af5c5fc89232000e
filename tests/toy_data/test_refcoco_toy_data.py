"""The toy RefCOCO layout (seg/toy_data, ``--layouts refcoco``): files as mmdet reads them, determinism, and
sentences that single out their object from what the image shows."""
import colorsys
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import seg.toy_data as td
from seg.fileio import load_plain_pickle

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / 'tools' / 'data' / 'make_toy_data.py'
# Enough images for twins (same colour and shape) in every split; 96 x 128 as the default.
SIZES = dict(num_train=12, num_val=4, num_test=2, height=96, width=128)
COUNTS = {'train': 12, 'val': 4, 'testA': 2, 'testB': 2}
HUES = dict(td.REFERRING_COLOURS)
SENTENCE = re.compile(r'^the (?:(?P<colour>[a-z]+) )?(?P<shape>[a-z]+)(?: (?P<position>(?:on|at) the [a-z]+))?$')


@pytest.fixture(scope='module')
def toy(tmp_path_factory) -> Path:
    return td.make_refcoco(tmp_path_factory.mktemp('toy') / 'refcoco', **SIZES)


@pytest.fixture(scope='module')
def coco(toy):
    from pycocotools.coco import COCO
    return COCO(str(toy / 'refcoco' / 'instances.json'))


@pytest.fixture(scope='module')
def refs(toy) -> list:
    return load_plain_pickle(toy / 'refcoco' / 'refs(unc).p')


def _files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


def _colour_name(rgb_pixels: np.ndarray) -> str:
    """The :data:`REFERRING_COLOURS` name whose hue is nearest (around the circle) the pixels' mean colour."""
    hue = colorsys.rgb_to_hsv(*(rgb_pixels.reshape(-1, 3).mean(0) / 255))[0]
    return min(HUES, key=lambda name: min(abs(hue - HUES[name]), 1 - abs(hue - HUES[name])))


def _resolve(sentence: str, objects: list, margin: float) -> list:
    """Indices of the objects ``sentence`` describes; each object a dict of colour, shape, centre (x, y).

    Read as a listener would: the objects of the named colour and shape ('one': any shape); with a position
    phrase, those of them that lie at least ``margin`` px further that way than every other one.
    """
    m = SENTENCE.match(sentence)
    assert m, sentence
    colour, shape = m['colour'], None if m['shape'] == 'one' else m['shape']
    assert (colour is None or colour in HUES) and (shape is None or shape in td.COCO_THING_CLASSES), sentence
    matches = [i for i, o in enumerate(objects)
               if (shape is None or o['shape'] == shape) and (colour is None or o['colour'] == colour)]
    if m['position'] is None:
        return matches
    _, axis, sign = next(p for p in td.POSITION_PHRASES if p[0] == m['position'])
    return [i for i in matches
            if all(sign * (objects[i]['centre'][axis] - objects[j]['centre'][axis]) >= margin
                   for j in matches if j != i)]


# ----------------------------------------------------------------------------------------------
# Renderer
# ----------------------------------------------------------------------------------------------
def test_referring_expressions_by_hand():
    shapes, colours = ['disk', 'disk', 'box'], ['red', 'red', 'red']
    centres = np.array([[10, 50], [80, 50], [40, 10]], float)
    found = td.referring_expressions(shapes, colours, centres, margin=10)
    assert found == [['the disk on the left', 'the red disk on the left', 'the red one on the left'],
                     ['the disk on the right', 'the red disk on the right', 'the red one on the right'],
                     ['the box', 'the red box', 'the red one at the top']]
    # Too close to tell apart by position: no expression for either twin, the box keeps its own.
    found = td.referring_expressions(shapes, colours, np.array([[40, 50], [45, 55], [40, 10]], float), margin=10)
    assert found[0] == found[1] == []
    assert found[2] == ['the box', 'the red box', 'the red one at the top']


def test_render_referring_image_invariants():
    for seed in range(12):
        sample = td.render_referring_image(seed, 96, 128)
        k_objs = len(sample.shapes)
        assert 3 <= k_objs <= 5 and sample.image.shape == (96, 128, 3) and sample.masks.shape == (k_objs, 96, 128)
        assert sample.masks.sum(0).max() == 1  # no overlap: every mask is its whole, visible shape
        assert not sample.masks[:, [0, -1], :].any() and not sample.masks[:, :, [0, -1]].any()  # inside the image
        assert set(sample.shapes) <= set(td.COCO_THING_CLASSES) and set(sample.colours) <= set(HUES)
        for k in range(k_objs):
            # The colour name is what the pixels show.
            assert _colour_name(sample.image[sample.masks[k]]) == sample.colours[k]
            assert len(sample.expressions[k]) <= 3
        again = td.render_referring_image(seed, 96, 128)
        assert np.array_equal(again.image, sample.image) and again.expressions == sample.expressions


# ----------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------
def test_refcoco_files(toy, coco, refs):
    assert sorted(p.name for p in toy.iterdir()) == ['refcoco', 'toy_meta.json', 'train2014']
    assert sorted(p.name for p in (toy / 'refcoco').iterdir()) == ['instances.json', 'refs(unc).p']
    images = coco.loadImgs(coco.getImgIds())
    assert [i['id'] for i in images] == list(range(1, sum(COUNTS.values()) + 1))
    assert sorted(p.name for p in (toy / 'train2014').iterdir()) == [i['file_name'] for i in images]
    for image in images:
        assert image['file_name'] == f'COCO_train2014_{image["id"]:012d}.jpg'
        assert Image.open(toy / 'train2014' / image['file_name']).size == (128, 96) and image['height'] == 96
    assert [(c['id'], c['name']) for c in coco.loadCats(coco.getCatIds())] == [(1, 'disk'), (2, 'box'), (3, 'triangle')]
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert isinstance(ann['segmentation'], list) and ann['iscrowd'] == 0 and len(ann['bbox']) == 4
        assert abs(coco.annToMask(ann).sum() - ann['area']) <= 0.35 * ann['area']  # polygons of the masks

    # Refs: the fields mmdet's RefCocoDataset reads and refer.py writes, ids that point into instances.json.
    assert isinstance(refs, list) and refs
    keys = {'ref_id', 'ann_id', 'image_id', 'split', 'sentences', 'sent_ids', 'category_id', 'file_name'}
    assert all(set(r) == keys for r in refs)
    assert [r['ref_id'] for r in refs] == list(range(len(refs)))
    sent_ids = [s['sent_id'] for r in refs for s in r['sentences']]
    assert sent_ids == list(range(len(sent_ids)))
    image_split = {}
    for r in refs:
        ann = coco.anns[r['ann_id']]
        assert ann['image_id'] == r['image_id'] and ann['category_id'] == r['category_id']
        assert r['file_name'] == f'COCO_train2014_{r["image_id"]:012d}_{r["ann_id"]}.jpg'
        assert r['sent_ids'] == [s['sent_id'] for s in r['sentences']] and 1 <= len(r['sentences']) <= 3
        for s in r['sentences']:
            assert set(s) == {'raw', 'sent', 'sent_id', 'tokens'} and s['tokens'] == s['sent'].split()
        assert image_split.setdefault(r['image_id'], r['split']) == r['split']  # splits are by image
    # Image ids run over the splits in order: train, val, testA, testB.
    bounds = np.cumsum([0] + list(COUNTS.values()))
    for (split, count), lo in zip(COUNTS.items(), bounds):
        ids = {i for i, s in image_split.items() if s == split}
        assert ids <= set(range(lo + 1, lo + count + 1)) and len(ids) >= count - 1, split


def test_sentences_single_out_their_object_from_what_is_visible(toy, coco, refs):
    by_image = {}
    for r in refs:
        by_image.setdefault(r['image_id'], []).append(r)
    n_position = 0
    for image_id, image_refs in by_image.items():
        sentences = [s['sent'] for r in image_refs for s in r['sentences']]
        assert len(sentences) == len(set(sentences)), image_id  # no two refs of an image share a sentence
        # The image's objects as a listener sees them: colour from the JPEG's pixels, shape from the category,
        # position from the annotated mask.
        rgb = np.array(Image.open(toy / 'train2014' / coco.imgs[image_id]['file_name']).convert('RGB'))
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        objects = []
        for ann in anns:
            mask = coco.annToMask(ann).astype(bool)
            inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            ys, xs = np.nonzero(mask)
            objects.append(dict(colour=_colour_name(rgb[inner if inner.any() else mask]),
                                shape=coco.cats[ann['category_id']]['name'], centre=(xs.mean(), ys.mean())))
        for r in image_refs:
            for s in r['sentences']:
                # Every sentence picks out exactly its ref's object (by a margin a little below the generator's,
                # as polygons move the centres by a fraction of a pixel).
                hits = _resolve(s['sent'], objects, margin=0.12 * 96)
                assert [anns[i]['id'] for i in hits] == [r['ann_id']], (image_id, s['sent'])
                n_position += ' the ' in s['sent'][4:]
    assert n_position >= 10  # twins that only a position word tells apart do occur


def test_layout_matches_the_renderer(toy, coco, refs):
    sample = td.render_layout_referring_image(0, 'val', 1, 96, 128)
    image_id = COUNTS['train'] + 2
    anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
    assert [coco.cats[a['category_id']]['name'] for a in anns] == sample.shapes
    assert [a['area'] for a in anns] == [float(m.sum()) for m in sample.masks]
    written = {r['ann_id']: [s['raw'] for s in r['sentences']] for r in refs if r['image_id'] == image_id}
    assert written == {a['id']: e for a, e in zip(anns, sample.expressions) if e}
    jpg = np.array(Image.open(toy / 'train2014' / td.refcoco_file_name(image_id))).astype(int)
    assert np.abs(jpg - sample.image).mean() < 8


def test_refcoco_deterministic(toy, tmp_path):
    again = td.make_refcoco(tmp_path / 'again', **SIZES)
    a, b = _files(toy), _files(again)
    assert a.keys() == b.keys() and [k for k in a if a[k] != b[k]] == []
    other = _files(td.make_refcoco(tmp_path / 'other', seed=1, **SIZES))
    for key in ('refcoco/instances.json', 'refcoco/refs(unc).p', 'train2014/COCO_train2014_000000000001.jpg'):
        assert other[key] != a[key], key
    # More training images leave the other splits' images as they were (each image has its own generator).
    more = td.make_refcoco(tmp_path / 'more', **{**SIZES, 'num_train': 13})
    assert (more / 'train2014' / td.refcoco_file_name(14)).read_bytes() != a['train2014/' + td.refcoco_file_name(14)]
    assert np.array_equal(td.render_layout_referring_image(0, 'val', 0, 96, 128).image,
                          td.render_layout_referring_image(0, 'val', 0, 96, 128).image)


def test_refcoco_arguments(tmp_path):
    assert td.layout_defaults('refcoco') == dict(num_train=64, num_val=16, num_test=8, height=96, width=128,
                                                  min_objects=3, max_objects=5)
    assert td.layout_kwargs('refcoco', num_videos=3, num_images=8, height=64) == dict(num_train=8, num_val=2,
                                                                                      height=64)
    assert 'refcoco' in td.LAYOUTS and 'refcoco' in td.IMAGE_LAYOUTS
    with pytest.raises(ValueError):
        td.make_refcoco(tmp_path / 'x', num_test=-1)
    with pytest.raises(ValueError):
        td.make_refcoco(tmp_path / 'x', min_objects=0)
    assert not (tmp_path / 'x').exists()


def test_cli_refcoco(tmp_path):
    env = {**os.environ, 'PYTHONPATH': str(REPO)}  # this checkout's seg, not whichever one is installed
    out = subprocess.run([sys.executable, str(CLI), '--help'], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and 'refcoco' in out.stdout
    cmd = [sys.executable, str(CLI), '--out', str(tmp_path / 'toy'), '--layouts', 'refcoco', '--num-images', '4',
           '--height', '64', '--width', '80']
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert 'refcoco: generated ' in out.stdout and '4+1+8+8 images 64x80' in out.stdout
    root = tmp_path / 'toy' / 'refcoco'
    assert len(list((root / 'train2014').glob('COCO_train2014_*.jpg'))) == 4 + 1 + 8 + 8
    data = json.loads((root / 'refcoco' / 'instances.json').read_text())
    assert len(data['images']) == 21 and data['images'][0]['width'] == 80
    assert {r['split'] for r in load_plain_pickle(root / 'refcoco' / 'refs(unc).p')} == {'train', 'val', 'testA',
                                                                                        'testB'}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0 and 'refcoco: up to date ' in out.stdout
