"""Toy datasets made once per arguments: the ``make_<layout>`` entry points and their on-disk cache.

Each layout's root holds a ``toy_meta.json`` with the arguments it was made
with; :func:`make_layout` leaves a root with matching arguments alone and
otherwise rebuilds it in a temporary sibling folder that is renamed into place
when complete, so an interrupted run never leaves a half-written dataset
behind.  Temporary siblings of runs whose process is gone are removed on the
next run.
"""
import inspect
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from seg.fileio.atomic import pid_alive, write_json_atomic
from .layouts import IMAGE_LAYOUTS, LAYOUTS, WRITERS

#: Where :func:`make_all` and the CLI write by default (relative to the working folder).
DEFAULT_ROOT = 'data/toy'
#: Name of the file, in each layout's root, that records the arguments it was made with.
META_FILE = 'toy_meta.json'
#: Bump when the output for given arguments changes, so existing toy data is regenerated.
GENERATOR_VERSION = 1


# ----------------------------------------------------------------------------------------------
# Public per-layout entry points
# ----------------------------------------------------------------------------------------------
def make_davis(root: Union[str, Path], seed: int = 0, num_train: int = 4, num_val: int = 2, num_frames: int = 12,
               height: int = 96, width: int = 160, min_objects: int = 3, max_objects: int = 4,
               force: bool = False) -> Path:
    """DAVIS 2017 layout under ``root``; returns ``root``.

    ``JPEGImages/480p/<seq>/00000.jpg``, ``Annotations/480p/<seq>/00000.png`` ('P' mode, DAVIS
    palette, 0 background, 1..K objects; the late object K is 0 before it enters),
    ``ImageSets/2017/{train,val}.txt``.  Sequences ``vid_000``.. (train first, then val), each
    ``num_frames`` frames of ``height`` x ``width`` px with K in [min_objects, max_objects].
    """
    return _generate('davis', root, seed, force, _args(locals()))[0]


def make_ytvos(root: Union[str, Path], seed: int = 0, num_train: int = 4, num_val: int = 2, num_frames: int = 12,
               height: int = 96, width: int = 160, min_objects: int = 3, max_objects: int = 4,
               force: bool = False) -> Path:
    """YouTube-VOS 2019 layout under ``root``; returns ``root``.

    ``train/JPEGImages/<vid>/00000.jpg``, ``train/Annotations/<vid>/00000.png`` (every frame,
    palette PNG), ``train/meta.json`` ``{"videos": {vid: {"objects": {"1": {"category",
    "frames": [frames where visible]}}}}}``; ``valid/JPEGImages`` (every frame),
    ``valid/Annotations/<vid>/<f>.png`` only at frames where objects first appear (holding just
    those objects), ``valid/meta.json`` listing per object every frame from its first on.
    """
    return _generate('ytvos', root, seed, force, _args(locals()))[0]


def make_e2fgvi(root: Union[str, Path], seed: int = 0, num_train: int = 4, num_val: int = 2, num_frames: int = 20,
                height: int = 120, width: int = 216, min_objects: int = 3, max_objects: int = 4, dilation: int = 3,
                force: bool = False) -> Path:
    """E2FGVI (YouTube-VOS style) layout under ``root``; returns ``root``.

    ``JPEGImages/<vid>.zip`` (``00000.jpg``.. at the zip root) for train and test videos,
    ``train.json`` / ``test.json`` ``{vid: num_frames}``, ``test_masks/<vid>/00000.png`` ('L'
    mode, 255 = hole: the union of the objects' masks dilated by ``dilation`` px) per test frame.
    """
    return _generate('e2fgvi', root, seed, force, _args(locals()))[0]


def make_propainter(root: Union[str, Path], seed: int = 0, num_train: int = 4, num_val: int = 2,
                    num_frames: int = 20, height: int = 120, width: int = 216, min_objects: int = 3,
                    max_objects: int = 4, dilation: int = 3, force: bool = False) -> Path:
    """ProPainter (YouTube-VOS / DAVIS) layout under ``root``; returns ``root``.

    ``JPEGImages_432_240/<vid>/00000.jpg``.. frame folders (at ``height`` x ``width`` px, the
    folder named as ProPainter's) for train and test videos, ``train.json`` / ``test.json``
    ``{vid: num_frames}``, ``test_masks/<vid>/00000.png`` ('L' mode, 255 = hole: the union of the
    objects' masks dilated by ``dilation`` px) per test frame.
    """
    return _generate('propainter', root, seed, force, _args(locals()))[0]


def make_coco_panoptic(root: Union[str, Path], seed: int = 0, num_train: int = 48, num_val: int = 12,
                       height: int = 128, width: int = 128, min_instances: int = 4, max_instances: int = 8,
                       force: bool = False) -> Path:
    """COCO panoptic 2017 layout under ``root``; returns ``root``.

    ``{train,val}2017/<id:012d>.jpg``, ``annotations/panoptic_{train,val}2017.json``,
    ``annotations/panoptic_{train,val}2017/<id:012d>.png`` (RGB, id = R + 256 G + 256^2 B, 0 VOID),
    ``annotations/instances_{train,val}2017.json`` (things; polygons, crowd as uncompressed RLE).
    Image ids run 1..num_train (train) then on (val).  Categories: :func:`coco_panoptic_categories`.
    """
    return _generate('coco_panoptic', root, seed, force, _args(locals()))[0]


def make_ytvis(root: Union[str, Path], seed: int = 0, num_train: int = 4, num_val: int = 2, num_frames: int = 12,
               height: int = 96, width: int = 160, min_objects: int = 3, max_objects: int = 4,
               force: bool = False) -> Path:
    """YouTube-VIS 2019 layout under ``root``; returns ``root``.

    ``{train,valid}/JPEGImages/<vid>/00000.jpg``, ``annotations/youtube_vis_2019_{train,valid}.json``
    with ``videos`` [{id, file_names, height, width, length}], ``annotations`` [{id, video_id,
    category_id, iscrowd, segmentations (uncompressed RLE or None per frame), bboxes, areas}] and
    ``categories`` (:func:`video_categories`).  Unlike the real valid json, ours has annotations.
    """
    return _generate('ytvis', root, seed, force, _args(locals()))[0]


def make_static(root: Union[str, Path], seed: int = 0, num_train: int = 16, num_val: int = 4, height: int = 96,
                width: int = 160, min_objects: int = 1, max_objects: int = 2, force: bool = False) -> Path:
    """DUTS layout (XMem's stage-0 static images) under ``root``; returns ``root``.

    ``DUTS-TR/DUTS-TR-Image/img_00000.jpg`` with ``DUTS-TR/DUTS-TR-Mask/img_00000.png`` ('L' mode,
    255 foreground, 0 background) for ``num_train`` images, and the same under ``DUTS-TE`` for
    ``num_val``; :func:`~seg.toy_data.layouts.render_layout_static_image` gives the images behind them.
    """
    return _generate('static', root, seed, force, _args(locals()))[0]


def make_refcoco(root: Union[str, Path], seed: int = 0, num_train: int = 64, num_val: int = 16, num_test: int = 8,
                 height: int = 96, width: int = 128, min_objects: int = 3, max_objects: int = 5,
                 force: bool = False) -> Path:
    """RefCOCO (UNC splits) layout, as mmdet's ``RefCocoDataset`` reads it, under ``root``; returns ``root``.

    ``train2014/COCO_train2014_<id:012d>.jpg`` (image ids 1.. over the splits train, val, testA,
    testB: ``num_train``, ``num_val``, ``num_test`` and ``num_test`` images), ``refcoco/instances.json``
    (COCO instances: every shape of every image, polygon ``segmentation``, ``bbox`` [x, y, w, h],
    ``area``, categories disk / box / triangle, ids 1..3) and ``refcoco/refs(unc).p``: a pickle
    (protocol 2, plain lists / dicts / str / int) of refs ``{ref_id, ann_id, image_id, split,
    category_id, file_name, sent_ids, sentences: [{raw, sent, sent_id, tokens}]}``, one per shape
    that some expression singles out, with up to 3 sentences each (``'the red disk'``, ``'the box
    on the left'``; see :func:`~seg.toy_data.render.render_referring_image`).  Splits are by image,
    as in RefCOCO; testA and testB hold the same kind of images (RefCOCO's people / other objects
    divide has no toy counterpart).
    """
    return _generate('refcoco', root, seed, force, _args(locals()))[0]


_MAKERS = {'davis': make_davis, 'ytvos': make_ytvos, 'e2fgvi': make_e2fgvi, 'coco_panoptic': make_coco_panoptic,
           'ytvis': make_ytvis, 'static': make_static, 'refcoco': make_refcoco, 'propainter': make_propainter}


def _args(local_vars: dict) -> dict:
    """A ``make_<layout>``'s generation arguments: its locals less root, seed and force."""
    return {k: v for k, v in local_vars.items() if k not in ('root', 'seed', 'force')}


def layout_defaults(layout: str) -> dict:
    """Default generation arguments of ``layout`` (everything but root, seed and force)."""
    params = inspect.signature(_MAKERS[layout]).parameters
    return {k: p.default for k, p in params.items() if k not in ('root', 'seed', 'force')}


def _validate(layout: str, params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f'{layout}: {k} must be an int, got {v!r}')
        out[k] = int(v)
    if out['num_train'] < 0 or out['num_val'] < 0 or out.get('num_test', 0) < 0:
        raise ValueError(f'{layout}: negative video / image counts')
    if out['height'] < 16 or out['width'] < 16:
        raise ValueError(f'{layout}: height and width must be >= 16, got {out["height"]}x{out["width"]}')
    if out.get('num_frames', 1) < 1:
        raise ValueError(f'{layout}: num_frames must be >= 1')
    lo, hi = out.get('min_objects', out.get('min_instances')), out.get('max_objects', out.get('max_instances'))
    if lo < 1 or hi < lo:
        raise ValueError(f'{layout}: need 1 <= min <= max objects, got {lo}, {hi}')
    if out.get('dilation', 0) < 0:
        raise ValueError(f'{layout}: dilation must be >= 0')
    return out


def _read_meta(root: Path) -> Optional[dict]:
    try:
        return json.loads((root / META_FILE).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def _remove_stale(root: Path) -> None:
    """Remove temporary siblings of ``root`` left by runs whose process is gone."""
    for prefix in (f'.{root.name}.tmp-', f'.{root.name}.old-'):
        for p in root.parent.glob(prefix + '*'):
            try:
                pid = int(p.name[len(prefix):].split('-')[0])
            except ValueError:
                continue
            if not pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)


def _generate(layout: str, root: Union[str, Path], seed: int, force: bool, params: dict) -> Tuple[Path, bool]:
    """Make ``layout`` under ``root`` unless it is already there with these arguments.

    Returns ``(root, generated)``.
    """
    root = Path(root)
    params = _validate(layout, params)
    meta = json.loads(json.dumps(
        dict(layout=layout, generator_version=GENERATOR_VERSION, seed=int(seed), params=params)))
    if not force and _read_meta(root) == meta:
        return root, False
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(root)
    tmp = root.parent / f'.{root.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}'
    tmp.mkdir()
    try:
        WRITERS[layout](tmp, int(seed), **params)
        write_json_atomic(tmp / META_FILE, meta, indent=2)
        if root.exists() or root.is_symlink():
            old = root.parent / f'.{root.name}.old-{os.getpid()}-{secrets.token_hex(4)}'
            os.rename(root, old)
            os.rename(tmp, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.rename(tmp, root)
            except OSError:
                if _read_meta(root) != meta:  # a concurrent run made something else meanwhile
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root, True


def make_layout(layout: str, root: Union[str, Path], seed: int = 0, force: bool = False,
                **kwargs) -> Tuple[Path, bool]:
    """Make one layout under ``root`` (the layout's own root, e.g. ``data/toy/davis``).

    ``kwargs`` are that layout's ``make_<layout>`` arguments; missing or None ones take the
    defaults.  Returns ``(root, generated)``: ``generated`` is False when ``root`` already held
    this layout made with the same arguments (then nothing is written).
    """
    if layout not in _MAKERS:
        raise ValueError(f'unknown layout {layout!r}; choose from {LAYOUTS}')
    params = layout_defaults(layout)
    unknown = set(kwargs) - set(params)
    if unknown:
        raise TypeError(f'{layout}: unexpected arguments {sorted(unknown)}')
    params.update({k: v for k, v in kwargs.items() if v is not None})
    return _generate(layout, root, seed, force, params)


def layout_kwargs(layout: str, num_videos: Optional[int] = None, num_val_videos: Optional[int] = None,
                  num_frames: Optional[int] = None, height: Optional[int] = None, width: Optional[int] = None,
                  num_images: Optional[int] = None, num_val_images: Optional[int] = None) -> dict:
    """Map the CLI's dataset-wide options onto ``layout``'s arguments (None keeps a default).

    Video layouts take ``num_videos`` / ``num_val_videos`` (val defaults to
    ``max(1, num_videos // 2)`` when only ``num_videos`` is given), ``num_frames``, ``height``,
    ``width``; the image layouts (:data:`IMAGE_LAYOUTS`: ``coco_panoptic``, ``static``, ``refcoco``) take
    ``num_images`` / ``num_val_images`` (val defaults to ``max(1, num_images // 4)``), ``height``, ``width``.
    """
    def val_count(n, n_val, div):
        if n_val is not None or n is None:
            return n_val
        return max(1, n // div) if n > 0 else 0

    if layout in IMAGE_LAYOUTS:
        kw = dict(num_train=num_images, num_val=val_count(num_images, num_val_images, 4))
    else:
        kw = dict(num_train=num_videos, num_val=val_count(num_videos, num_val_videos, 2), num_frames=num_frames)
    kw.update(height=height, width=width)
    return {k: v for k, v in kw.items() if v is not None}


def make_all(root: Union[str, Path] = DEFAULT_ROOT, seed: int = 0, layouts: Sequence[str] = LAYOUTS,
             num_videos: Optional[int] = None, num_val_videos: Optional[int] = None,
             num_frames: Optional[int] = None, height: Optional[int] = None, width: Optional[int] = None,
             num_images: Optional[int] = None, num_val_images: Optional[int] = None,
             force: bool = False) -> Dict[str, Path]:
    """Make each of ``layouts`` under ``root/<layout>`` (see :func:`layout_kwargs` for the options).

    Returns ``{layout: path}``.  Up-to-date layouts are left untouched.
    """
    out = {}
    for layout in layouts:
        kw = layout_kwargs(layout, num_videos, num_val_videos, num_frames, height, width, num_images,
                           num_val_images)
        out[layout] = make_layout(layout, Path(root) / layout, seed, force, **kw)[0]
    return out
