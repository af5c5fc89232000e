"""Deterministic toy datasets, written in the official on-disk layouts.

One shared renderer (:func:`render_video`) draws textured shapes (disks,
boxes, triangles, star polygons) moving smoothly over a textured, panning
background, with a defined depth order (so objects occlude each other and the
masks respect it), one forced crossing (two objects whose shapes overlap
mid-clip) and one object entering late (from the border, at a later frame).
Every video layout is written from it; COCO panoptic still images come from
:func:`render_panoptic_image`, built from the same shape and texture code.

Layouts (each under its own root, ``data/toy/<layout>/`` with :func:`make_all`):

* ``davis``: DAVIS 2017 (``JPEGImages/480p``, ``Annotations/480p`` palette
  PNGs, ``ImageSets/2017/{train,val}.txt``).
* ``ytvos``: YouTube-VOS 2019 (``{train,valid}/{JPEGImages,Annotations}``,
  ``{train,valid}/meta.json``; ``valid`` annotates only first appearances).
* ``e2fgvi``: E2FGVI's YouTube-VOS layout (``JPEGImages/<vid>.zip``,
  ``train.json``, ``test.json``, ``test_masks/<vid>/*.png``).
* ``coco_panoptic``: COCO panoptic 2017 (+ ``instances_*.json`` for things).
* ``ytvis``: YouTube-VIS 2019 (``{train,valid}/JPEGImages``,
  ``annotations/youtube_vis_2019_{train,valid}.json``).
* ``static``: DUTS salient-object images for XMem's stage 0
  (``DUTS-{TR,TE}/DUTS-{TR,TE}-Image/*.jpg``, ``DUTS-{TR,TE}/DUTS-{TR,TE}-Mask/*.png`` 0/255),
  from :func:`render_static_image`.

Everything is a pure function of the seed: each video / image draws from its own
``numpy.random.Generator`` seeded with ``[seed, layout, split, index]``, so
changing the number of videos leaves the others unchanged, and two runs with
the same arguments give byte-identical files.  Each layout's root holds a
``toy_meta.json`` with the arguments it was made with; :func:`make_layout`
leaves a root with matching arguments alone and otherwise rebuilds it in a
temporary sibling directory that is renamed into place when complete, so an
interrupted run never leaves a half-written dataset behind.

Units: sizes are pixels, ``height`` x ``width``; frames are RGB ``uint8``;
positions are ``(x, y)`` in pixels with the origin at the top-left pixel centre.
"""
import colorsys
import inspect
import json
import os
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from PIL import Image

from seg.fileio.palette import davis_palette

__all__ = [
    'LAYOUTS', 'DEFAULT_ROOT', 'META_FILE', 'GENERATOR_VERSION', 'VIDEO_CLASSES', 'COCO_THING_CLASSES',
    'COCO_STUFF_CLASSES', 'COCO_PANOPTIC_CLASSES', 'ToyVideo', 'ToyPanopticImage', 'davis_palette',
    'video_categories', 'coco_panoptic_categories', 'render_video', 'render_layout_video',
    'render_panoptic_image', 'rle_uncompressed', 'make_davis', 'make_ytvos', 'make_e2fgvi',
    'make_coco_panoptic', 'make_ytvis', 'make_layout', 'layout_kwargs', 'make_all', 'layout_defaults',
    'ToyStaticImage', 'render_static_image', 'render_layout_static_image', 'make_static', 'IMAGE_LAYOUTS'
]

#: Layout names, in :func:`make_all`'s order.
LAYOUTS = ('davis', 'ytvos', 'e2fgvi', 'coco_panoptic', 'ytvis', 'static')
#: Where :func:`make_all` and the CLI write by default (relative to the working directory).
DEFAULT_ROOT = 'data/toy'
#: Name of the file, in each layout's root, that records the arguments it was made with.
META_FILE = 'toy_meta.json'
#: Bump when the output for given arguments changes, so existing toy data is regenerated.
GENERATOR_VERSION = 1

#: Shapes drawn in videos; also the category names of ``ytvos`` and ``ytvis`` (ids 1..4).
VIDEO_CLASSES = ('disk', 'box', 'triangle', 'polygon')
#: COCO panoptic thing classes (category ids 1..3), then stuff classes (ids 4..5).
COCO_THING_CLASSES = ('disk', 'box', 'triangle')
COCO_STUFF_CLASSES = ('wall', 'floor')
COCO_PANOPTIC_CLASSES = COCO_THING_CLASSES + COCO_STUFF_CLASSES

_LAYOUT_CODE = {'davis': 1, 'ytvos': 2, 'e2fgvi': 3, 'coco_panoptic': 4, 'ytvis': 5, 'static': 6}
_SPLIT_CODE = {'train': 0, 'val': 1}
_CATEGORY_COLORS = ([220, 20, 60], [119, 11, 32], [0, 0, 142], [102, 102, 156], [152, 251, 152])
_JPEG_QUALITY = 90
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

RngLike = Union[np.random.Generator, int, Sequence[int]]


# ----------------------------------------------------------------------------------------------
# Categories and palettes
# ----------------------------------------------------------------------------------------------
def video_categories() -> List[dict]:
    """YouTube-VIS style categories of the video layouts: ``[{id, name, supercategory}]``, ids 1..4."""
    return [dict(supercategory='shape', id=i + 1, name=n) for i, n in enumerate(VIDEO_CLASSES)]


def coco_panoptic_categories() -> List[dict]:
    """COCO panoptic categories: ``[{id, name, supercategory, isthing, color}]``.

    Things ``disk``, ``box``, ``triangle`` (ids 1..3, ``isthing=1``), then stuff
    ``wall``, ``floor`` (ids 4..5, ``isthing=0``); ``color`` is ``[R, G, B]``.
    """
    cats = []
    for i, name in enumerate(COCO_PANOPTIC_CLASSES):
        thing = name in COCO_THING_CLASSES
        cats.append(
            dict(supercategory='shape' if thing else 'background', isthing=int(thing), id=i + 1, name=name,
                 color=list(_CATEGORY_COLORS[i])))
    return cats


# ----------------------------------------------------------------------------------------------
# Textures and shapes
# ----------------------------------------------------------------------------------------------
def _as_rng(rng: RngLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float, channels: int = 1) -> np.ndarray:
    """Value noise in [0, 1] with feature size ``cell`` px: (h, w, channels) float32."""
    gh, gw = int(np.ceil(h / cell)) + 2, int(np.ceil(w / cell)) + 2
    grid = rng.random((gh, gw, channels), dtype=np.float32)
    big = cv2.resize(grid, (int(round(gw * cell)), int(round(gh * cell))), interpolation=cv2.INTER_CUBIC)
    return np.clip(big.reshape(big.shape[0], big.shape[1], channels)[:h, :w], 0, 1)


def _color(rng: np.random.Generator, vivid: bool, hue: Optional[float] = None) -> np.ndarray:
    """A random RGB colour (3,) float in 0..255; saturated when ``vivid``, muted otherwise."""
    h = rng.random() if hue is None else hue % 1.0
    s = rng.uniform(0.55, 1.0) if vivid else rng.uniform(0.05, 0.35)
    v = rng.uniform(0.55, 1.0) if vivid else rng.uniform(0.25, 0.75)
    return np.array(colorsys.hsv_to_rgb(h, s, v), np.float32) * 255


def _texture(rng: np.random.Generator, h: int, w: int, vivid: bool, kind: Optional[int] = None,
             scale: float = 1.0) -> np.ndarray:
    """A two-colour patterned texture: (h, w, 3) float32 in 0..255.

    ``kind``: 0 stripes, 1 checker, 2 rings about the centre, 3 blotches (random if None).
    ``scale`` multiplies the pattern's period (px).
    """
    if kind is None:
        kind = int(rng.integers(4))
    c1 = _color(rng, vivid)
    hue2 = rng.random() if not vivid else colorsys.rgb_to_hsv(*(c1 / 255))[0] + rng.uniform(0.25, 0.75)
    c2 = _color(rng, vivid, hue2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy -= (h - 1) / 2
    xx -= (w - 1) / 2
    a = rng.uniform(0, np.pi)
    u = xx * np.cos(a) + yy * np.sin(a)
    v = -xx * np.sin(a) + yy * np.cos(a)
    if kind == 0:
        t = 0.5 + 0.5 * np.sin(2 * np.pi * u / (rng.uniform(4, 10) * scale))
    elif kind == 1:
        cell = rng.uniform(3, 8) * scale
        t = (np.floor(u / cell) + np.floor(v / cell)) % 2
    elif kind == 2:
        t = 0.5 + 0.5 * np.sin(2 * np.pi * np.hypot(xx, yy) / (rng.uniform(4, 9) * scale))
    else:
        n = _smooth_noise(rng, h, w, rng.uniform(3, 6) * scale)[..., 0]
        t = np.clip((n - 0.5) * 3 + 0.5, 0, 1)
    t = t.astype(np.float32)[..., None]
    tex = c1 * (1 - t) + c2 * t
    tex += (_smooth_noise(rng, h, w, 2.0) - 0.5) * 30  # fine grain, so no region is flat
    return np.clip(tex, 0, 255)


def _background(rng: np.random.Generator, h: int, w: int, kind: Optional[int] = None) -> np.ndarray:
    """A muted textured background with low-frequency shading: (h, w, 3) float32 in 0..255."""
    tex = _texture(rng, h, w, vivid=False, kind=kind, scale=1.6)
    shade = 0.75 + 0.5 * _smooth_noise(rng, h, w, max(8.0, min(h, w) / 3))
    return np.clip(tex * shade, 0, 255)


@dataclass
class _Shape:
    """A shape in local coordinates (px, centred on its centroid region) with its texture sprite."""
    kind: str
    radius: float
    vertices: Optional[np.ndarray]  # (N, 2) float (x, y); None for a disk
    sprite: np.ndarray  # (S, S, 3) float32 texture, centred at ((S - 1) / 2, (S - 1) / 2)


def _make_shape(rng: np.random.Generator, kind: str, radius: float) -> _Shape:
    """A random ``kind`` shape ('disk', 'box', 'triangle', 'polygon') of bounding radius ``radius`` px.

    Every shape contains its centre, so two shapes centred on the same point overlap.
    """
    radius = max(float(radius), 2.0)
    if kind == 'disk':
        verts = None
    elif kind == 'box':
        phi = rng.uniform(0.5, 1.07)
        hw, hh = radius * np.cos(phi), radius * np.sin(phi)
        verts = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    elif kind == 'triangle':
        ang = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.3, 0.3, 3)
        rad = radius * rng.uniform(0.85, 1.0, 3)
        verts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
    elif kind == 'polygon':
        n = int(rng.integers(5, 8))
        ang = rng.uniform(0, 2 * np.pi) + np.arange(n) * 2 * np.pi / n + rng.uniform(-0.2, 0.2, n)
        rad = radius * rng.uniform(0.55, 1.0, n)
        verts = np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
    else:
        raise ValueError(f'unknown shape {kind!r}')
    size = 2 * int(np.ceil(radius)) + 5
    return _Shape(kind, radius, verts, _texture(rng, size, size, vivid=True))


def _shape_mask(shape: _Shape, cx: float, cy: float, angle: float, h: int, w: int) -> np.ndarray:
    """The shape's pixels when centred at (cx, cy) px and rotated by ``angle`` rad: (h, w) bool."""
    mask = np.zeros((h, w), np.uint8)
    if shape.vertices is None:
        cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))), int(round(shape.radius * 16)), 1, -1,
                   lineType=cv2.LINE_8, shift=4)
    else:
        c, s = np.cos(angle), np.sin(angle)
        pts = shape.vertices @ np.array([[c, s], [-s, c]]) + (cx, cy)
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _shape_texture(shape: _Shape, cx: float, cy: float, angle: float, h: int, w: int) -> np.ndarray:
    """The shape's texture moved and rotated with it: (h, w, 3) float32 (valid under its mask)."""
    c, s = np.cos(angle), np.sin(angle)
    k = (shape.sprite.shape[0] - 1) / 2
    m = np.array([[c, -s, cx - (c * k - s * k)], [s, c, cy - (s * k + c * k)]], np.float64)
    return cv2.warpAffine(shape.sprite, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


# ----------------------------------------------------------------------------------------------
# Video renderer
# ----------------------------------------------------------------------------------------------
@dataclass
class ToyVideo:
    """A rendered toy clip of T frames, H x W px, with K objects (ids 1..K).

    Attributes:
        frames: (T, H, W, 3) uint8 RGB.
        masks: (T, H, W) uint8 visible-object id map: 0 background, k for object k;
            occlusion is resolved by depth, so each pixel belongs to one object.
        amodal: (T, K, H, W) bool, each object's full shape ignoring occlusion
            (all False before the object enters).
        shapes: (K,) shape / category name of each object (a :data:`VIDEO_CLASSES` entry).
        depth: (K,) depth rank of each object, 0 farthest; larger ranks are drawn on top.
        first_frame: (K,) first frame index with visible pixels (T if never visible).
        enter_frame: (K,) frame from which each object is drawn (0 except for the late object).
        centers: (K, T, 2) float, object centres (x, y) px.
        background_shift: (T, 2) float, camera pan (dx, dy) px relative to frame 0; the
            background content moves by minus this.
        crossing: (a, b, t): ids of two objects whose centres coincide at frame t, so their
            shapes overlap there (a == b == 0 when K < 2).
        late_object: id of the object entering late (0 when K < 3 or T < 2).
    """
    frames: np.ndarray
    masks: np.ndarray
    amodal: np.ndarray
    shapes: List[str]
    depth: List[int]
    first_frame: List[int]
    enter_frame: List[int]
    centers: np.ndarray
    background_shift: np.ndarray
    crossing: Tuple[int, int, int]
    late_object: int

    @property
    def num_objects(self) -> int:
        return len(self.shapes)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def _fit_path(base, vel, amp, omega, phase, t_ref, t, lo, hi):
    """Positions base + vel (t - t_ref) + amp (sin(omega t + phase) - sin(omega t_ref + phase)):
    (T, 2); velocity and amplitude shrink until the path stays in the box [lo, hi]."""
    vel, amp = np.asarray(vel, float), np.asarray(amp, float)
    for _ in range(60):
        p = (base + vel * (t - t_ref)[:, None] + amp *
             (np.sin(omega * t[:, None] + phase) - np.sin(omega * t_ref + phase)))
        if np.all(p >= lo - 1e-6) and np.all(p <= hi + 1e-6):
            return p
        vel, amp = vel * 0.85, amp * 0.85
    return np.clip(p, lo, hi)


def _trajectories(rng, num_frames, h, w, radii):
    """Centres (K, T, 2), angles (K, T), enter frames (K,), crossing (a, b, t) (0-based ids)."""
    k_objs, t_len = len(radii), num_frames
    t = np.arange(t_len, dtype=float)
    mn = min(h, w)
    size = np.array([w - 1, h - 1], float)
    centers = np.zeros((k_objs, t_len, 2))
    enter = np.zeros(k_objs, int)
    late = k_objs - 1 if (k_objs >= 3 and t_len >= 2) else -1

    def speed():
        return rng.uniform(0.3, 0.6) * mn / max(t_len - 1, 1)

    def box(r):
        lo = np.minimum(0.6 * r, size / 2)
        return lo, size - lo

    def wiggle():
        return rng.uniform(0, 0.04 * mn, 2), rng.uniform(0.25, 0.7, 2), rng.uniform(0, 2 * np.pi, 2)

    crossing = (-1, -1, 0)
    first_free = 0
    if k_objs >= 2:
        t_c = int(np.clip(rng.integers(t_len // 3, 2 * t_len // 3 + 1), 0, t_len - 1))
        c = rng.uniform(0.35, 0.65, 2) * size
        a0 = rng.uniform(0, 2 * np.pi)
        for k, ang in ((0, a0), (1, a0 + np.pi + rng.uniform(-0.8, 0.8))):
            lo, hi = box(radii[k])
            amp, om, ph = wiggle()
            vel = speed() * np.array([np.cos(ang), np.sin(ang)])
            centers[k] = _fit_path(np.clip(c, lo, hi), vel, amp, om, ph, t_c, t, lo, hi)
        crossing = (0, 1, t_c)
        first_free = 2
    for k in range(first_free, k_objs):
        if k == late:
            continue
        lo, hi = box(radii[k])
        amp, om, ph = wiggle()
        ang = rng.uniform(0, 2 * np.pi)
        vel = speed() * np.array([np.cos(ang), np.sin(ang)])
        centers[k] = _fit_path(rng.uniform(lo, hi), vel, amp, om, ph, 0, t, lo, hi)
    if late >= 0:
        t_in = int(min(rng.integers(max(1, t_len // 4), max(1, t_len // 2) + 1), t_len - 1))
        side, along, d = int(rng.integers(4)), rng.uniform(0.3, 0.7), 0.2 * radii[late]
        start = [(-d, along * size[1]), (size[0] + d, along * size[1]), (along * size[0], -d),
                 (along * size[0], size[1] + d)][side]
        end = rng.uniform(0.3, 0.7, 2) * size
        vel = (end - np.array(start)) / max(t_len - 1 - t_in, 1)
        centers[late] = np.array(start) + vel * np.maximum(t - t_in, 0)[:, None]
        enter[late] = t_in
    angles = rng.uniform(0, 2 * np.pi, k_objs)[:, None] + rng.uniform(-0.08, 0.08, k_objs)[:, None] * t
    return centers, angles, enter, crossing


def render_video(rng: RngLike = 0, num_frames: int = 12, height: int = 96, width: int = 160,
                 num_objects: int = 3, max_tries: int = 20) -> ToyVideo:
    """Render one toy clip (see :class:`ToyVideo`).

    Objects 1 and 2 cross (their centres coincide at ``crossing[2]``); object K enters late
    (from a border, at a frame in [T/4, T/2]) when K >= 3 and T >= 2; the others move freely.
    Paths are constant velocity plus a small sinusoid and keep the centres inside the frame
    (at least 0.6 radius from the border).  Layouts are resampled (up to ``max_tries``) until every
    object present at frame 0 shows >= 30% of its shape there and the late object is visible when
    it enters.

    Args:
        rng: Generator or seed.
        num_frames: T >= 1.
        height, width: Frame size in px (>= 16 each).
        num_objects: K >= 1 (K <= 4 gives every object a different shape).
        max_tries: Layout resampling attempts.
    """
    rng = _as_rng(rng)
    t_len, h, w, k_objs = int(num_frames), int(height), int(width), int(num_objects)
    if t_len < 1 or h < 16 or w < 16 or k_objs < 1:
        raise ValueError(f'need num_frames >= 1, height/width >= 16, num_objects >= 1; got '
                         f'{t_len}, {h}x{w}, {k_objs}')
    mn = min(h, w)
    t = np.arange(t_len, dtype=float)
    # Camera pan: constant velocity + a small sinusoid.
    pan_dir = rng.uniform(0, 2 * np.pi)
    pan_v = max(0.75, rng.uniform(0.01, 0.02) * mn) * np.array([np.cos(pan_dir), np.sin(pan_dir)])
    pan_amp, pan_om, pan_ph = rng.uniform(0, 0.01 * mn, 2), rng.uniform(0.2, 0.5, 2), rng.uniform(0, 2 * np.pi, 2)
    shift = pan_v * t[:, None] + pan_amp * (np.sin(pan_om * t[:, None] + pan_ph) - np.sin(pan_ph))
    pad = int(np.ceil(np.abs(shift).max())) + 2
    canvas = _background(rng, h + 2 * pad, w + 2 * pad)

    order = rng.permutation(len(VIDEO_CLASSES))
    kinds = [VIDEO_CLASSES[order[k % len(VIDEO_CLASSES)]] for k in range(k_objs)]
    radii = rng.uniform(0.12, 0.2, k_objs) * mn
    shapes = [_make_shape(rng, kind, r) for kind, r in zip(kinds, radii)]

    for _ in range(max(1, max_tries)):
        centers, angles, enter, crossing = _trajectories(rng, t_len, h, w, radii)
        depth = rng.permutation(k_objs)
        draw = np.argsort(depth)
        amodal = np.zeros((t_len, k_objs, h, w), bool)
        masks = np.zeros((t_len, h, w), np.uint8)
        for ti in range(t_len):
            for k in draw:
                if ti >= enter[k]:
                    amodal[ti, k] = _shape_mask(shapes[k], *centers[k, ti], angles[k, ti], h, w)
                    masks[ti][amodal[ti, k]] = k + 1
        ok = True
        for k in range(k_objs):
            vis = int((masks[enter[k]] == k + 1).sum())
            full = int(amodal[enter[k], k].sum())
            ok &= vis > 0 and (enter[k] > 0 or vis >= 0.3 * full)
        if ok:
            break

    frames = np.zeros((t_len, h, w, 3), np.uint8)
    for ti in range(t_len):
        m = np.array([[1, 0, pad + shift[ti, 0]], [0, 1, pad + shift[ti, 1]]], np.float64)
        img = cv2.warpAffine(canvas, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        for k in draw:
            if ti >= enter[k]:
                sel = amodal[ti, k]
                img[sel] = _shape_texture(shapes[k], *centers[k, ti], angles[k, ti], h, w)[sel]
        frames[ti] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    present = [np.flatnonzero((masks == k + 1).any(axis=(1, 2))) for k in range(k_objs)]
    return ToyVideo(
        frames=frames,
        masks=masks,
        amodal=amodal,
        shapes=kinds,
        depth=[int(d) for d in depth],
        first_frame=[int(p[0]) if len(p) else t_len for p in present],
        enter_frame=[int(e) for e in enter],
        centers=centers,
        background_shift=shift,
        crossing=(crossing[0] + 1, crossing[1] + 1, crossing[2]) if crossing[0] >= 0 else (0, 0, 0),
        late_object=k_objs if (k_objs >= 3 and t_len >= 2) else 0)


def _item_rng(layout: str, seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _LAYOUT_CODE[layout], _SPLIT_CODE[split], int(index)])


def render_layout_video(layout: str, seed: int, split: str, index: int, num_frames: int, height: int,
                        width: int, min_objects: int = 3, max_objects: int = 4) -> ToyVideo:
    """The clip a video layout writes as video ``index`` (0-based) of ``split`` ('train' or 'val').

    The number of objects K is drawn from [min_objects, max_objects].  Use it to get the
    in-memory frames, masks and amodal shapes behind a generated dataset.
    """
    rng = _item_rng(layout, seed, split, index)
    k_objs = int(rng.integers(min_objects, max_objects + 1))
    return render_video(rng, num_frames, height, width, k_objs)


# ----------------------------------------------------------------------------------------------
# Panoptic still images
# ----------------------------------------------------------------------------------------------
@dataclass
class ToyPanopticImage:
    """A rendered COCO-panoptic style image, H x W px.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        pan_ids: (H, W) int64 segment id per pixel, 0 for VOID (unlabeled).
        segments_info: ``[{id, category_id, iscrowd, bbox: [x, y, w, h], area}]``, one per
            nonzero id in ``pan_ids``; ``bbox`` is the tight box in px (w = x_max - x_min + 1),
            ``area`` the pixel count.
    """
    image: np.ndarray
    pan_ids: np.ndarray
    segments_info: List[dict]


def _mask_bbox(mask: np.ndarray) -> List[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]


def render_panoptic_image(rng: RngLike = 0, height: int = 128, width: int = 128, min_instances: int = 4,
                          max_instances: int = 8, crowd: Optional[bool] = None, void: Optional[bool] = None,
                          min_area: int = 12) -> ToyPanopticImage:
    """Render one panoptic image (see :class:`ToyPanopticImage`).

    Stuff: ``wall`` above a wavy horizon, ``floor`` below, each with its own texture.  Things:
    ``min_instances``..``max_instances`` disks / boxes / triangles at random positions and
    depths (overlapping, possibly cut by the border).  A crowd segment (``iscrowd=1``, a cluster
    of small same-class shapes) is added when ``crowd`` (random, p=0.3, when None), and an
    unlabeled clutter blob (VOID, id 0) when ``void`` (random, p=0.4, when None).  Segments
    with fewer than ``min_area`` visible px become VOID too.
    """
    rng = _as_rng(rng)
    h, w = int(height), int(width)
    mn = min(h, w)
    crowd = rng.random() < 0.3 if crowd is None else crowd
    void = rng.random() < 0.4 if void is None else void
    # Stuff: wall (label 0) above a wavy horizon, floor (label 1) below; distinct pattern kinds.
    kinds = rng.permutation(4)[:2]
    wall, floor = _background(rng, h, w, int(kinds[0])), _background(rng, h, w, int(kinds[1]))
    xs = np.arange(w)
    horizon = h * rng.uniform(0.35, 0.65) + rng.uniform(0, 0.08 * h) * np.sin(
        2 * np.pi * xs / rng.uniform(0.5 * w, 2 * w) + rng.uniform(0, 2 * np.pi))
    is_wall = np.arange(h)[:, None] < horizon[None, :]
    img = np.where(is_wall[..., None], wall, floor)
    label = np.where(is_wall, 0, 1)  # entity index; 0 wall, 1 floor, 2.. things; -1 VOID
    entities = [dict(category_id=4, iscrowd=0), dict(category_id=5, iscrowd=0)]

    items = []  # (category_id, iscrowd, [(mask, texture)])
    for _ in range(int(rng.integers(min_instances, max_instances + 1))):
        cls = int(rng.integers(len(COCO_THING_CLASSES)))
        shape = _make_shape(rng, COCO_THING_CLASSES[cls], rng.uniform(0.08, 0.2) * mn)
        cx, cy, ang = rng.uniform(0, w - 1), rng.uniform(0, h - 1), rng.uniform(0, 2 * np.pi)
        items.append((cls + 1, 0, [(_shape_mask(shape, cx, cy, ang, h, w),
                                     _shape_texture(shape, cx, cy, ang, h, w))]))
    if crowd:
        cls = int(rng.integers(len(COCO_THING_CLASSES)))
        centre = rng.uniform(0.2, 0.8, 2) * (w - 1, h - 1)
        parts = []
        for _ in range(int(rng.integers(5, 10))):
            shape = _make_shape(rng, COCO_THING_CLASSES[cls], rng.uniform(0.03, 0.05) * mn)
            cx, cy = centre + rng.normal(0, 0.08 * mn, 2)
            ang = rng.uniform(0, 2 * np.pi)
            parts.append((_shape_mask(shape, cx, cy, ang, h, w), _shape_texture(shape, cx, cy, ang, h, w)))
        items.insert(int(rng.integers(len(items) + 1)), (cls + 1, 1, parts))
    for cat, iscrowd, parts in items:  # items are in back-to-front order
        entities.append(dict(category_id=cat, iscrowd=iscrowd))
        for mask, tex in parts:
            img[mask] = tex[mask]
            label[mask] = len(entities) - 1
    if void:
        yy, xx = np.mgrid[0:h, 0:w]
        cx, cy = rng.uniform(0.1, 0.9, 2) * (w - 1, h - 1)
        ax, ay = rng.uniform(0.04, 0.1, 2) * mn
        blob = ((xx - cx) / ax)**2 + ((yy - cy) / ay)**2 <= 1 + 0.3 * _smooth_noise(rng, h, w, 4.0)[..., 0]
        grey = _smooth_noise(rng, h, w, 2.0)[..., 0] * 255
        img[blob] = grey[blob][:, None]
        label[blob] = -1

    ids = rng.integers(1, 256**3, size=len(entities))
    while len(set(ids.tolist())) < len(ids):
        ids = rng.integers(1, 256**3, size=len(entities))
    pan = np.zeros((h, w), np.int64)
    segments = []
    order = list(range(2, len(entities))) + [0, 1]  # things (back to front), then stuff
    for e in order:
        mask = label == e
        area = int(mask.sum())
        if area < min_area:
            continue  # stays VOID (0)
        pan[mask] = ids[e]
        segments.append(dict(id=int(ids[e]), category_id=entities[e]['category_id'],
                             iscrowd=entities[e]['iscrowd'], bbox=_mask_bbox(mask), area=area))
    return ToyPanopticImage(np.clip(np.round(img), 0, 255).astype(np.uint8), pan, segments)


# ----------------------------------------------------------------------------------------------
# Salient-object still images
# ----------------------------------------------------------------------------------------------
@dataclass
class ToyStaticImage:
    """A rendered salient-object image (DUTS style), H x W px.

    Attributes:
        image: (H, W, 3) uint8 RGB: vivid textured shapes over a muted textured background.
        mask: (H, W) bool, the union of the shapes (one binary foreground, as in DUTS).
        shapes: the shapes' kinds (:data:`VIDEO_CLASSES` entries), back to front.
    """
    image: np.ndarray
    mask: np.ndarray
    shapes: List[str]


def render_static_image(rng: RngLike = 0, height: int = 96, width: int = 160, min_objects: int = 1,
                        max_objects: int = 2) -> ToyStaticImage:
    """Render one salient-object image (see :class:`ToyStaticImage`).

    ``min_objects``..``max_objects`` shapes of bounding radius 0.2-0.32 x the shorter side, centred in
    the middle 40 % of the image (so each lies mostly inside), drawn back to front.
    """
    rng = _as_rng(rng)
    h, w = int(height), int(width)
    img = _background(rng, h, w)
    mask = np.zeros((h, w), bool)
    kinds = []
    for _ in range(int(rng.integers(min_objects, max_objects + 1))):
        kind = VIDEO_CLASSES[int(rng.integers(len(VIDEO_CLASSES)))]
        shape = _make_shape(rng, kind, rng.uniform(0.2, 0.32) * min(h, w))
        cx, cy = rng.uniform(0.3, 0.7, 2) * (w - 1, h - 1)
        ang = rng.uniform(0, 2 * np.pi)
        sel = _shape_mask(shape, cx, cy, ang, h, w)
        img[sel] = _shape_texture(shape, cx, cy, ang, h, w)[sel]
        mask |= sel
        kinds.append(kind)
    return ToyStaticImage(np.clip(np.round(img), 0, 255).astype(np.uint8), mask, kinds)


def render_layout_static_image(seed: int, split: str, index: int, height: int, width: int,
                               min_objects: int = 1, max_objects: int = 2) -> ToyStaticImage:
    """The image the ``static`` layout writes as image ``index`` of ``split`` ('train': DUTS-TR, 'val': DUTS-TE)."""
    return render_static_image(_item_rng('static', seed, split, index), height, width, min_objects, max_objects)


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
        x, y, bw, bh = _mask_bbox(mask)
        polys = [[float(v) for v in (x, y, x + bw - 1, y, x + bw - 1, y + bh - 1, x, y + bh - 1)]]
    return polys


def _jpg_bytes(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise RuntimeError('JPEG encoding failed')
    return buf.tobytes()


def _write_jpg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_jpg_bytes(rgb))


_PALETTE_FLAT = davis_palette().reshape(-1).tolist()


def _write_palette_png(path: Path, ids: np.ndarray) -> None:
    """Write a (H, W) uint8 index map as a 'P' mode PNG with the DAVIS palette."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(np.ascontiguousarray(ids, np.uint8))
    im.putpalette(_PALETTE_FLAT)
    im.save(path)


def _write_json(path: Path, obj, indent: Optional[int] = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=indent, separators=None if indent else (',', ':'))
    path.write_text(text + '\n', encoding='utf-8')


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(f'{x}\n' for x in lines), encoding='utf-8')


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
        with zipfile.ZipFile(out / 'JPEGImages' / f'{name}.zip', 'w', zipfile.ZIP_STORED) as zf:
            for t in range(video.num_frames):
                info = zipfile.ZipInfo(f'{_frame_name(t)}.jpg', date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                zf.writestr(info, _jpg_bytes(video.frames[t]))
        if split == 'val':
            for t in range(video.num_frames):
                hole = cv2.dilate((video.masks[t] > 0).astype(np.uint8), kernel) * 255
                path = out / 'test_masks' / name / f'{_frame_name(t)}.png'
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(hole.astype(np.uint8)).save(path)
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
            rng = _item_rng('coco_panoptic', seed, split, i)
            # Every split's first image carries a crowd segment and a VOID blob.
            sample = render_panoptic_image(rng, height, width, min_instances, max_instances,
                                           crowd=True if i == 0 else None, void=True if i == 0 else None)
            image_id += 1
            stem = f'{image_id:012d}'
            images.append(dict(id=image_id, file_name=f'{stem}.jpg', height=height, width=width))
            _write_jpg(out / f'{split}2017' / f'{stem}.jpg', sample.image)
            rgb = np.stack([sample.pan_ids % 256, sample.pan_ids // 256 % 256, sample.pan_ids // 65536], -1)
            png = out / 'annotations' / f'panoptic_{split}2017' / f'{stem}.png'
            png.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb.astype(np.uint8)).save(png)
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
                    boxes.append([float(v) for v in _mask_bbox(mask)])
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
            Image.fromarray(sample.mask.astype(np.uint8) * 255).save(out / name / f'{name}-Mask' / f'{stem}.png')


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
    ``num_val``; :func:`render_layout_static_image` gives the images behind them.
    """
    return _generate('static', root, seed, force, _args(locals()))[0]


_MAKERS = {'davis': make_davis, 'ytvos': make_ytvos, 'e2fgvi': make_e2fgvi, 'coco_panoptic': make_coco_panoptic,
           'ytvis': make_ytvis, 'static': make_static}
_WRITERS = {'davis': _write_davis, 'ytvos': _write_ytvos, 'e2fgvi': _write_e2fgvi,
            'coco_panoptic': _write_coco_panoptic, 'ytvis': _write_ytvis, 'static': _write_static}
#: Layouts of still images: the CLI's ``--num-images`` / ``--num-val-images`` set their counts.
IMAGE_LAYOUTS = ('coco_panoptic', 'static')


def _args(local_vars: dict) -> dict:
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
    if out['num_train'] < 0 or out['num_val'] < 0:
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_stale(root: Path) -> None:
    """Remove temporary siblings of ``root`` left by runs whose process is gone."""
    for prefix in (f'.{root.name}.tmp-', f'.{root.name}.old-'):
        for p in root.parent.glob(prefix + '*'):
            try:
                pid = int(p.name[len(prefix):].split('-')[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
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
        _WRITERS[layout](tmp, int(seed), **params)
        _write_json(tmp / META_FILE, meta, indent=2)
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
    ``width``; the image layouts (:data:`IMAGE_LAYOUTS`: ``coco_panoptic``, ``static``) take
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
