"""The toy layouts on disk: which item each layout renders and the writers that put it in place.

Layouts (each written into a fresh folder by its writer, :data:`WRITERS`):

* ``davis``: DAVIS 2017 (``JPEGImages/480p``, ``Annotations/480p`` palette
  PNGs, ``ImageSets/2017/{train,val}.txt``).
* ``ytvos``: YouTube-VOS 2019 (``{train,valid}/{JPEGImages,Annotations}``,
  ``{train,valid}/meta.json``; ``valid`` annotates only first appearances).
* ``e2fgvi``: E2FGVI's YouTube-VOS layout (``JPEGImages/<vid>.zip``,
  ``train.json``, ``test.json``, ``test_masks/<vid>/*.png``).
* ``propainter``: ProPainter's layout (``JPEGImages_432_240/<vid>/*.jpg`` frame
  folders, ``train.json``, ``test.json``, ``test_masks/<vid>/*.png``), the
  frames at the toy size despite the folder's name.
* ``coco_panoptic``: COCO panoptic 2017 (+ ``instances_*.json`` for things).
* ``ytvis``: YouTube-VIS 2019 (``{train,valid}/JPEGImages``,
  ``annotations/youtube_vis_2019_{train,valid}.json``).
* ``static``: DUTS salient-object images for XMem's stage 0
  (``DUTS-{TR,TE}/DUTS-{TR,TE}-Image/*.jpg``, ``DUTS-{TR,TE}/DUTS-{TR,TE}-Mask/*.png`` 0/255).
* ``refcoco``: RefCOCO (UNC splits) as mmdet's ``RefCocoDataset`` reads it
  (``train2014/COCO_train2014_<id:012d>.jpg``, ``refcoco/instances.json``,
  ``refcoco/refs(unc).p``).

Each video / image draws from its own ``numpy.random.Generator`` seeded with
``[seed, layout, split, index]`` (:func:`item_rng`), so changing the number of
videos leaves the others unchanged, and two runs with the same arguments give
byte-identical files.  The per-layout arguments, their defaults and the
``make_<layout>`` entry points are in :mod:`seg.toy_data.cache`.
"""
import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from PIL import Image

from seg.fileio.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from seg.fileio.palette import davis_palette, write_palette_png
from seg.fileio.panoptic_png import id2rgb
from .render import (COCO_THING_CLASSES, ToyReferringImage, ToyStaticImage, ToyVideo, coco_panoptic_categories,
                     mask_bbox, render_panoptic_image, render_referring_image, render_static_image, render_video,
                     video_categories)

#: Layout names, in :func:`~seg.toy_data.cache.make_all`'s order.
LAYOUTS = ('davis', 'ytvos', 'e2fgvi', 'coco_panoptic', 'ytvis', 'static', 'refcoco', 'propainter')
#: Layouts of still images: the CLI's ``--num-images`` / ``--num-val-images`` set their counts.
IMAGE_LAYOUTS = ('coco_panoptic', 'static', 'refcoco')
#: The RefCOCO splits (UNC), in the order the ``refcoco`` layout numbers their images.
REFCOCO_SPLITS = ('train', 'val', 'testA', 'testB')

_LAYOUT_CODE = {'davis': 1, 'ytvos': 2, 'e2fgvi': 3, 'coco_panoptic': 4, 'ytvis': 5, 'static': 6, 'refcoco': 7,
                'propainter': 8}
_SPLIT_CODE = {'train': 0, 'val': 1, 'testA': 2, 'testB': 3}
_JPEG_QUALITY = 90
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_PALETTE = davis_palette()


# ----------------------------------------------------------------------------------------------
# The item each layout writes
# ----------------------------------------------------------------------------------------------
def item_rng(layout: str, seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of item ``index`` (0-based) of ``split`` ('train', 'val'; 'testA', 'testB' in ``refcoco``)."""
    return np.random.default_rng([int(seed), _LAYOUT_CODE[layout], _SPLIT_CODE[split], int(index)])


def render_layout_video(layout: str, seed: int, split: str, index: int, num_frames: int, height: int,
                        width: int, min_objects: int = 3, max_objects: int = 4) -> ToyVideo:
    """The clip a video layout writes as video ``index`` (0-based) of ``split`` ('train' or 'val').

    The number of objects K is drawn from [min_objects, max_objects].  Use it to get the
    in-memory frames, masks and amodal shapes behind a generated dataset.
    """
    rng = item_rng(layout, seed, split, index)
    k_objs = int(rng.integers(min_objects, max_objects + 1))
    return render_video(rng, num_frames, height, width, k_objs)



def render_layout_static_image(seed: int, split: str, index: int, height: int, width: int,
                               min_objects: int = 1, max_objects: int = 2) -> ToyStaticImage:
    """The image the ``static`` layout writes as image ``index`` of ``split`` ('train': DUTS-TR, 'val': DUTS-TE)."""
    return render_static_image(item_rng('static', seed, split, index), height, width, min_objects, max_objects)


def render_layout_referring_image(seed: int, split: str, index: int, height: int, width: int,
                                  min_objects: int = 3, max_objects: int = 5) -> ToyReferringImage:
    """The image the ``refcoco`` layout writes as image ``index`` of ``split`` (a :data:`REFCOCO_SPLITS` entry)."""
    return render_referring_image(item_rng('refcoco', seed, split, index), height, width, min_objects, max_objects)


# ----------------------------------------------------------------------------------------------
# Encoders
# ----------------------------------------------------------------------------------------------
def rle_uncompressed(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE of a (H, W) bool mask: ``{'counts': [int, ...], 'size': [H, W]}``.

    Column-major run lengths starting with a (possibly empty) run of zeros, as in
    YouTube-VIS and COCO crowd annotations; ``pycocotools.mask.frPyObjects`` reads it.
    """
    h, w = mask.shape
    flat = np.asarray(mask, bool).flatten(order='F')
    if flat.size == 0:
        return {'counts': [], 'size': [h, w]}
    cuts = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], cuts, [flat.size]])).tolist()
    if flat[0]:
        counts = [0] + counts
    return {'counts': [int(c) for c in counts], 'size': [h, w]}


def _polygons(mask: np.ndarray) -> List[List[float]]:
    """COCO polygons ``[[x0, y0, x1, y1, ...], ...]`` of a mask's outer contours (bbox if none)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
    if not polys:
        x, y, bw, bh = mask_bbox(mask)
        polys = [[float(v) for v in (x, y, x + bw - 1, y, x + bw - 1, y + bh - 1, x, y + bh - 1)]]
    return polys



def _jpg_bytes(rgb: np.ndarray) -> bytes:
    """JPEG (quality 90) of a (H, W, 3) uint8 RGB image."""
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise RuntimeError('JPEG encoding failed')
    return buf.tobytes()


def _write_jpg(path: Path, rgb: np.ndarray) -> None:
    atomic_write_bytes(_jpg_bytes(rgb), path)


def _write_png(path: Path, array: np.ndarray) -> None:
    """Write a (H, W) 'L' or (H, W, 3) 'RGB' uint8 image as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format='PNG')
    atomic_write_bytes(buffer.getvalue(), path)


def _write_palette_png(path: Path, ids: np.ndarray) -> None:
    """Write a (H, W) uint8 object-id map as a 'P' mode PNG with the DAVIS palette."""
    write_palette_png(path, ids, _PALETTE)


def _write_json(path: Path, obj, indent: Optional[int] = None) -> None:
    """Write ``obj`` as json, compact (no spaces) unless ``indent`` is given."""
    atomic_write_text(json.dumps(obj, indent=indent, separators=None if indent else (',', ':')) + '\n', path)


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    atomic_write_text(''.join(f'{x}\n' for x in lines), path)


def _frame_name(t: int) -> str:
    return f'{t:05d}'


def _video_names(num_train: int, num_val: int) -> Dict[str, List[str]]:
    """Video names per split: 'vid_000'.. for train, continuing the numbering for val."""
    return {'train': [f'vid_{i:03d}' for i in range(num_train)],
            'val': [f'vid_{num_train + i:03d}' for i in range(num_val)]}


def _iter_videos(layout, seed, num_train, num_val, num_frames, height, width, min_objects, max_objects):
    for split, names in _video_names(num_train, num_val).items():
        for i, name in enumerate(names):
            yield split, name, render_layout_video(layout, seed, split, i, num_frames, height, width,
                                                   min_objects, max_objects)


# ----------------------------------------------------------------------------------------------
# Layout writers (into a fresh directory)
# ----------------------------------------------------------------------------------------------
def _write_davis(out: Path, seed: int, num_train, num_val, num_frames, height, width, min_objects, max_objects):
    splits = {'train': [], 'val': []}
    for split, name, video in _iter_videos('davis', seed, num_train, num_val, num_frames, height, width,
                                           min_objects, max_objects):
        splits[split].append(name)
        for t in range(video.num_frames):
            _write_jpg(out / 'JPEGImages' / '480p' / name / f'{_frame_name(t)}.jpg', video.frames[t])
            _write_palette_png(out / 'Annotations' / '480p' / name / f'{_frame_name(t)}.png', video.masks[t])
    _write_lines(out / 'ImageSets' / '2017' / 'train.txt', splits['train'])
    _write_lines(out / 'ImageSets' / '2017' / 'val.txt', splits['val'])


def _write_ytvos(out: Path, seed: int, num_train, num_val, num_frames, height, width, min_objects, max_objects):
    metas = {'train': {}, 'val': {}}
    for split, name, video in _iter_videos('ytvos', seed, num_train, num_val, num_frames, height, width,
                                           min_objects, max_objects):
        d = out / ('train' if split == 'train' else 'valid')
        t_len = video.num_frames
        for t in range(t_len):
            _write_jpg(d / 'JPEGImages' / name / f'{_frame_name(t)}.jpg', video.frames[t])
        objects = {}
        for k in range(1, video.num_objects + 1):
            first = video.first_frame[k - 1]
            if first >= t_len:
                continue
            if split == 'train':
                frames = [_frame_name(t) for t in range(t_len) if (video.masks[t] == k).any()]
            else:
                frames = [_frame_name(t) for t in range(first, t_len)]
            objects[str(k)] = {'category': video.shapes[k - 1], 'frames': frames}
        metas[split][name] = {'objects': objects}
        if split == 'train':
            for t in range(t_len):
                _write_palette_png(d / 'Annotations' / name / f'{_frame_name(t)}.png', video.masks[t])
        else:
            for first in sorted({f for f in video.first_frame if f < t_len}):
                new = [k + 1 for k, f in enumerate(video.first_frame) if f == first]
                ids = np.where(np.isin(video.masks[first], new), video.masks[first], 0).astype(np.uint8)
                _write_palette_png(d / 'Annotations' / name / f'{_frame_name(first)}.png', ids)
    _write_json(out / 'train' / 'meta.json', {'videos': metas['train']}, indent=4)
    _write_json(out / 'valid' / 'meta.json', {'videos': metas['val']}, indent=4)


def _write_e2fgvi(out: Path, seed: int, num_train, num_val, num_frames, height, width, min_objects, max_objects,
                  dilation):
    counts = {'train': {}, 'val': {}}
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
    (out / 'JPEGImages').mkdir(parents=True, exist_ok=True)
    for split, name, video in _iter_videos('e2fgvi', seed, num_train, num_val, num_frames, height, width,
                                           min_objects, max_objects):
        counts[split][name] = video.num_frames
        with atomic_path(out / 'JPEGImages' / f'{name}.zip') as tmp, \
                zipfile.ZipFile(tmp, 'w', zipfile.ZIP_STORED) as zf:
            for t in range(video.num_frames):
                info = zipfile.ZipInfo(f'{_frame_name(t)}.jpg', date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                zf.writestr(info, _jpg_bytes(video.frames[t]))
        if split == 'val':
            for t in range(video.num_frames):
                hole = cv2.dilate((video.masks[t] > 0).astype(np.uint8), kernel) * 255
                _write_png(out / 'test_masks' / name / f'{_frame_name(t)}.png', hole.astype(np.uint8))
    _write_json(out / 'train.json', counts['train'])
    _write_json(out / 'test.json', counts['val'])


def _write_propainter(out: Path, seed: int, num_train, num_val, num_frames, height, width, min_objects, max_objects,
                      dilation):
    counts = {'train': {}, 'val': {}}
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
    (out / 'JPEGImages_432_240').mkdir(parents=True, exist_ok=True)
    (out / 'test_masks').mkdir(parents=True, exist_ok=True)
    for split, name, video in _iter_videos('propainter', seed, num_train, num_val, num_frames, height, width,
                                           min_objects, max_objects):
        counts[split][name] = video.num_frames
        for t in range(video.num_frames):
            _write_jpg(out / 'JPEGImages_432_240' / name / f'{_frame_name(t)}.jpg', video.frames[t])
            if split == 'val':
                hole = cv2.dilate((video.masks[t] > 0).astype(np.uint8), kernel) * 255
                _write_png(out / 'test_masks' / name / f'{_frame_name(t)}.png', hole.astype(np.uint8))
    _write_json(out / 'train.json', counts['train'])
    _write_json(out / 'test.json', counts['val'])


def _write_coco_panoptic(out: Path, seed: int, num_train, num_val, height, width, min_instances, max_instances):
    cats = coco_panoptic_categories()
    thing_cats = [dict(supercategory=c['supercategory'], id=c['id'], name=c['name']) for c in cats if c['isthing']]
    info = dict(description='FastSAM2 toy COCO panoptic', version='1.0', year=2017)
    image_id, ann_id = 0, 0
    for split, count in (('train', num_train), ('val', num_val)):
        images, pan_anns, inst_anns = [], [], []
        for i in range(count):
            rng = item_rng('coco_panoptic', seed, split, i)
            # Every split's first image carries a crowd segment and a VOID blob.
            sample = render_panoptic_image(rng, height, width, min_instances, max_instances,
                                           crowd=True if i == 0 else None, void=True if i == 0 else None)
            image_id += 1
            stem = f'{image_id:012d}'
            images.append(dict(id=image_id, file_name=f'{stem}.jpg', height=height, width=width))
            _write_jpg(out / f'{split}2017' / f'{stem}.jpg', sample.image)
            _write_png(out / 'annotations' / f'panoptic_{split}2017' / f'{stem}.png', id2rgb(sample.pan_ids))
            pan_anns.append(dict(image_id=image_id, file_name=f'{stem}.png', segments_info=sample.segments_info))
            for seg in sample.segments_info:
                if seg['category_id'] > len(COCO_THING_CLASSES):
                    continue
                mask = sample.pan_ids == seg['id']
                ann_id += 1
                segm = rle_uncompressed(mask) if seg['iscrowd'] else _polygons(mask)
                inst_anns.append(dict(id=ann_id, image_id=image_id, category_id=seg['category_id'],
                                      segmentation=segm, area=float(seg['area']),
                                      bbox=[float(v) for v in seg['bbox']], iscrowd=seg['iscrowd']))
        _write_json(out / 'annotations' / f'panoptic_{split}2017.json',
                    dict(info=info, licenses=[], images=images, annotations=pan_anns, categories=cats))
        _write_json(out / 'annotations' / f'instances_{split}2017.json',
                    dict(info=info, licenses=[], images=images, annotations=inst_anns, categories=thing_cats))
        (out / f'{split}2017').mkdir(parents=True, exist_ok=True)
        (out / 'annotations' / f'panoptic_{split}2017').mkdir(parents=True, exist_ok=True)


def _write_ytvis(out: Path, seed: int, num_train, num_val, num_frames, height, width, min_objects, max_objects):
    data = {s: dict(info=dict(description='FastSAM2 toy YouTube-VIS 2019'), licenses=[], videos=[],
                    annotations=[], categories=video_categories()) for s in ('train', 'val')}
    cat_id = {c['name']: c['id'] for c in video_categories()}
    video_id, ann_id = 0, 0
    for split, name, video in _iter_videos('ytvis', seed, num_train, num_val, num_frames, height, width,
                                           min_objects, max_objects):
        d = out / ('train' if split == 'train' else 'valid') / 'JPEGImages'
        t_len = video.num_frames
        video_id += 1
        files = []
        for t in range(t_len):
            _write_jpg(d / name / f'{_frame_name(t)}.jpg', video.frames[t])
            files.append(f'{name}/{_frame_name(t)}.jpg')
        data[split]['videos'].append(dict(id=video_id, file_names=files, height=height, width=width,
                                          length=t_len))
        for k in range(1, video.num_objects + 1):
            if video.first_frame[k - 1] >= t_len:
                continue
            segs, boxes, areas = [], [], []
            for t in range(t_len):
                mask = video.masks[t] == k
                if mask.any():
                    segs.append(rle_uncompressed(mask))
                    boxes.append([float(v) for v in mask_bbox(mask)])
                    areas.append(float(mask.sum()))
                else:
                    segs.append(None)
                    boxes.append(None)
                    areas.append(None)
            ann_id += 1
            data[split]['annotations'].append(
                dict(id=ann_id, video_id=video_id, category_id=cat_id[video.shapes[k - 1]], iscrowd=0,
                     height=height, width=width, length=1, segmentations=segs, bboxes=boxes, areas=areas))
    _write_json(out / 'annotations' / 'youtube_vis_2019_train.json', data['train'])
    _write_json(out / 'annotations' / 'youtube_vis_2019_valid.json', data['val'])
    for s in ('train', 'valid'):
        (out / s / 'JPEGImages').mkdir(parents=True, exist_ok=True)


def _write_static(out: Path, seed: int, num_train, num_val, height, width, min_objects, max_objects):
    for split, name, count in (('train', 'DUTS-TR', num_train), ('val', 'DUTS-TE', num_val)):
        (out / name / f'{name}-Image').mkdir(parents=True, exist_ok=True)
        (out / name / f'{name}-Mask').mkdir(parents=True, exist_ok=True)
        for i in range(count):
            sample = render_layout_static_image(seed, split, i, height, width, min_objects, max_objects)
            stem = f'img_{i:05d}'
            _write_jpg(out / name / f'{name}-Image' / f'{stem}.jpg', sample.image)
            _write_png(out / name / f'{name}-Mask' / f'{stem}.png', sample.mask.astype(np.uint8) * 255)


def refcoco_file_name(image_id: int) -> str:
    """The file name of image ``image_id`` in the ``refcoco`` layout (COCO train2014's naming)."""
    return f'COCO_train2014_{image_id:012d}.jpg'


def _write_refcoco(out: Path, seed: int, num_train, num_val, num_test, height, width, min_objects, max_objects):
    cats = [dict(supercategory='shape', id=i + 1, name=n) for i, n in enumerate(COCO_THING_CLASSES)]
    cat_id = {c['name']: c['id'] for c in cats}
    images, anns, refs = [], [], []
    image_id = ann_id = ref_id = sent_id = 0
    (out / 'train2014').mkdir(parents=True, exist_ok=True)
    for split, count in zip(REFCOCO_SPLITS, (num_train, num_val, num_test, num_test)):
        for i in range(count):
            sample = render_layout_referring_image(seed, split, i, height, width, min_objects, max_objects)
            image_id += 1
            file_name = refcoco_file_name(image_id)
            images.append(dict(id=image_id, file_name=file_name, height=height, width=width))
            _write_jpg(out / 'train2014' / file_name, sample.image)
            for mask, shape, expressions in zip(sample.masks, sample.shapes, sample.expressions):
                ann_id += 1
                anns.append(dict(id=ann_id, image_id=image_id, category_id=cat_id[shape], segmentation=_polygons(mask),
                                 area=float(mask.sum()), bbox=[float(v) for v in mask_bbox(mask)], iscrowd=0))
                if not expressions:
                    continue
                sentences = [dict(tokens=e.split(), raw=e, sent_id=sent_id + j, sent=e)
                             for j, e in enumerate(expressions)]
                sent_id += len(sentences)
                refs.append(dict(sent_ids=[s['sent_id'] for s in sentences],
                                 file_name=f'{Path(file_name).stem}_{ann_id}.jpg', ann_id=ann_id, ref_id=ref_id,
                                 image_id=image_id, split=split, sentences=sentences, category_id=cat_id[shape]))
                ref_id += 1
    info = dict(description='FastSAM2 toy RefCOCO', version='1.0', year=2014)
    _write_json(out / 'refcoco' / 'instances.json',
                dict(info=info, licenses=[], images=images, annotations=anns, categories=cats))
    atomic_write_bytes(pickle.dumps(refs, protocol=2), out / 'refcoco' / 'refs(unc).p')


#: Writer of each layout: ``writer(out, seed, **params)`` fills the empty folder ``out``.
WRITERS = {'davis': _write_davis, 'ytvos': _write_ytvos, 'e2fgvi': _write_e2fgvi,
           'coco_panoptic': _write_coco_panoptic, 'ytvis': _write_ytvis, 'static': _write_static,
           'refcoco': _write_refcoco, 'propainter': _write_propainter}
