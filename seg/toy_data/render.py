"""The toy-data renderers: textured shapes moving over a textured, panning background.

One shared renderer (:func:`render_video`) draws textured shapes (disks,
boxes, triangles, star polygons) moving smoothly over a textured, panning
background, with a defined depth order (so objects occlude each other and the
masks respect it), one forced crossing (two objects whose shapes overlap
mid-clip) and one object entering late (from the border, at a later frame).
COCO panoptic still images come from :func:`render_panoptic_image` and DUTS
salient-object images from :func:`render_static_image`, built from the same
shape and texture code.

Every renderer is a pure function of its ``numpy.random.Generator`` (or seed).

Units: sizes are pixels, ``height`` x ``width``; frames are RGB ``uint8``;
positions are ``(x, y)`` in pixels with the origin at the top-left pixel centre.
"""
import colorsys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

#: Shapes drawn in videos; also the category names of ``ytvos`` and ``ytvis`` (ids 1..4).
VIDEO_CLASSES = ('disk', 'box', 'triangle', 'polygon')
#: COCO panoptic thing classes (category ids 1..3), then stuff classes (ids 4..5).
COCO_THING_CLASSES = ('disk', 'box', 'triangle')
COCO_STUFF_CLASSES = ('wall', 'floor')
COCO_PANOPTIC_CLASSES = COCO_THING_CLASSES + COCO_STUFF_CLASSES

_CATEGORY_COLOURS = ([220, 20, 60], [119, 11, 32], [0, 0, 142], [102, 102, 156], [152, 251, 152])

RngLike = Union[np.random.Generator, int, Sequence[int]]


# ----------------------------------------------------------------------------------------------
# Categories
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
                 color=list(_CATEGORY_COLOURS[i])))
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


def _colour(rng: np.random.Generator, vivid: bool, hue: Optional[float] = None) -> np.ndarray:
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
    c1 = _colour(rng, vivid)
    hue2 = rng.random() if not vivid else colorsys.rgb_to_hsv(*(c1 / 255))[0] + rng.uniform(0.25, 0.75)
    c2 = _colour(rng, vivid, hue2)
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
        centres: (K, T, 2) float, object centres (x, y) px.
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
    centres: np.ndarray
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
    centres = np.zeros((k_objs, t_len, 2))
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
            centres[k] = _fit_path(np.clip(c, lo, hi), vel, amp, om, ph, t_c, t, lo, hi)
        crossing = (0, 1, t_c)
        first_free = 2
    for k in range(first_free, k_objs):
        if k == late:
            continue
        lo, hi = box(radii[k])
        amp, om, ph = wiggle()
        ang = rng.uniform(0, 2 * np.pi)
        vel = speed() * np.array([np.cos(ang), np.sin(ang)])
        centres[k] = _fit_path(rng.uniform(lo, hi), vel, amp, om, ph, 0, t, lo, hi)
    if late >= 0:
        t_in = int(min(rng.integers(max(1, t_len // 4), max(1, t_len // 2) + 1), t_len - 1))
        side, along, d = int(rng.integers(4)), rng.uniform(0.3, 0.7), 0.2 * radii[late]
        start = [(-d, along * size[1]), (size[0] + d, along * size[1]), (along * size[0], -d),
                 (along * size[0], size[1] + d)][side]
        end = rng.uniform(0.3, 0.7, 2) * size
        vel = (end - np.array(start)) / max(t_len - 1 - t_in, 1)
        centres[late] = np.array(start) + vel * np.maximum(t - t_in, 0)[:, None]
        enter[late] = t_in
    angles = rng.uniform(0, 2 * np.pi, k_objs)[:, None] + rng.uniform(-0.08, 0.08, k_objs)[:, None] * t
    return centres, angles, enter, crossing


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
        centres, angles, enter, crossing = _trajectories(rng, t_len, h, w, radii)
        depth = rng.permutation(k_objs)
        draw = np.argsort(depth)
        amodal = np.zeros((t_len, k_objs, h, w), bool)
        masks = np.zeros((t_len, h, w), np.uint8)
        for ti in range(t_len):
            for k in draw:
                if ti >= enter[k]:
                    amodal[ti, k] = _shape_mask(shapes[k], *centres[k, ti], angles[k, ti], h, w)
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
                img[sel] = _shape_texture(shapes[k], *centres[k, ti], angles[k, ti], h, w)[sel]
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
        centres=centres,
        background_shift=shift,
        crossing=(crossing[0] + 1, crossing[1] + 1, crossing[2]) if crossing[0] >= 0 else (0, 0, 0),
        late_object=k_objs if (k_objs >= 3 and t_len >= 2) else 0)


# ----------------------------------------------------------------------------------------------
# Panoptic still images
# ----------------------------------------------------------------------------------------------
@dataclass
class ToyPanopticImage:
    """A rendered COCO-panoptic style image, H x W px.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        pan_ids: (H, W) int64 segment id per pixel, 0 for VOID (unlabelled).
        segments_info: ``[{id, category_id, iscrowd, bbox: [x, y, w, h], area}]``, one per
            nonzero id in ``pan_ids``; ``bbox`` is the tight box in px (w = x_max - x_min + 1),
            ``area`` the pixel count.
    """
    image: np.ndarray
    pan_ids: np.ndarray
    segments_info: List[dict]


def mask_bbox(mask: np.ndarray) -> List[int]:
    """Tight box ``[x, y, w, h]`` in px of a non-empty (H, W) bool mask (w = x_max - x_min + 1)."""
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
    unlabelled clutter blob (VOID, id 0) when ``void`` (random, p=0.4, when None).  Segments
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
                             iscrowd=entities[e]['iscrowd'], bbox=mask_bbox(mask), area=area))
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


# ----------------------------------------------------------------------------------------------
# Referring-expression still images
# ----------------------------------------------------------------------------------------------
#: Colour names of the referring images' shapes and the HSV hue (in [0, 1)) each is drawn with;
#: the hues lie >= 0.15 apart, so the name of a shape's colour is never in doubt.
REFERRING_COLOURS = (('red', 0.0), ('yellow', 0.15), ('green', 0.33), ('blue', 0.62), ('purple', 0.8))
#: Gap between centres (x the shorter side) along the axis of a position phrase.
POSITION_MARGIN = 0.15
#: Position phrases of the referring expressions: (phrase, axis 0 = x / 1 = y, sign: -1 smallest, +1 largest).
POSITION_PHRASES = (('on the left', 0, -1), ('on the right', 0, 1), ('at the top', 1, -1), ('at the bottom', 1, 1))


@dataclass
class ToyReferringImage:
    """A rendered referring-segmentation image (RefCOCO style), H x W px, with K shapes that do not overlap.

    Attributes:
        image: (H, W, 3) uint8 RGB: named-colour textured shapes over a muted textured background.
        masks: (K, H, W) bool, each shape's pixels; shapes lie wholly inside the image and never
            overlap, so every mask is the whole shape and fully visible.
        shapes: (K,) shape name of each object (a :data:`COCO_THING_CLASSES` entry).
        colours: (K,) colour name of each object (a :data:`REFERRING_COLOURS` name).
        centres: (K, 2) float, the centroid (x, y) px of each mask.
        expressions: (K,) list of the referring expressions of each object (at most
            ``max_sentences``, possibly none), e.g. ``'the red disk'``, ``'the box on the left'``;
            each names exactly one object of the image (see :func:`referring_expressions`).
    """
    image: np.ndarray
    masks: np.ndarray
    shapes: List[str]
    colours: List[str]
    centres: np.ndarray
    expressions: List[List[str]]


def referring_expressions(shapes: Sequence[str], colours: Sequence[str], centres: np.ndarray,
                          margin: float) -> List[List[str]]:
    """Every expression that names exactly one object, per object: ``(K,)`` lists of str.

    Each expression is ``'the '`` + a descriptor — the shape (``'disk'``), colour and shape
    (``'red disk'``) or colour alone (``'red one'``) — that either matches this object only,
    or, when it matches several, + a position phrase (:data:`POSITION_PHRASES`) that holds for
    this object alone among them: its centre lies at least ``margin`` px further in that direction
    than every other match's centre (``'the disk on the left'``: the leftmost of the disks).

    Args:
        shapes, colours: (K,) names per object.
        centres: (K, 2) float centroids (x, y) px.
        margin: Smallest gap in px between the centres along the axis of a position phrase.
    """
    centres = np.asarray(centres, float).reshape(-1, 2)
    k_objs = len(shapes)
    out = []
    for i in range(k_objs):
        descriptors = ((shapes[i], [j for j in range(k_objs) if shapes[j] == shapes[i]]),
                       (f'{colours[i]} {shapes[i]}',
                        [j for j in range(k_objs) if shapes[j] == shapes[i] and colours[j] == colours[i]]),
                       (f'{colours[i]} one', [j for j in range(k_objs) if colours[j] == colours[i]]))
        found = []
        for words, matches in descriptors:
            others = [j for j in matches if j != i]
            if not others:
                found.append(f'the {words}')
                continue
            for phrase, axis, sign in POSITION_PHRASES:
                gap = sign * (centres[i, axis] - centres[others, axis])
                if gap.min() >= margin:
                    found.append(f'the {words} {phrase}')
        out.append(found)
    return out


def _named_colour_sprite(rng: np.random.Generator, size: int, hue: float) -> np.ndarray:
    """A (size, size, 3) float32 texture of one named hue: blotches of lighter and darker shades.

    Shading scales R, G and B together, so every pixel keeps the hue (and saturation) it was given.
    """
    base = np.array(colorsys.hsv_to_rgb((hue + rng.uniform(-0.02, 0.02)) % 1.0, rng.uniform(0.75, 1.0),
                                        rng.uniform(0.8, 1.0)), np.float32) * 255
    shade = 0.7 + 0.3 * _smooth_noise(rng, size, size, rng.uniform(3, 6))
    return np.clip(base * shade, 0, 255)


def render_referring_image(rng: RngLike = 0, height: int = 96, width: int = 128, min_objects: int = 3,
                           max_objects: int = 5, max_sentences: int = 3,
                           twin_probability: float = 0.35) -> ToyReferringImage:
    """Render one referring-segmentation image (see :class:`ToyReferringImage`).

    ``min_objects``..``max_objects`` disks / boxes / triangles (bounding radius 0.11-0.17 x the
    shorter side), each of one named colour (:data:`REFERRING_COLOURS`), placed wholly inside the
    image with at least 2 px between any two (a shape that finds no free place after 200 tries is
    left out).  With probability ``twin_probability`` a shape copies the colour and kind of an
    earlier one, so that only a position word tells the two apart.  Each object keeps at most
    ``max_sentences`` of its :func:`referring_expressions` (margin: :data:`POSITION_MARGIN` x the shorter
    side), drawn at random; an object no expression singles out (the middle one of three twins) has none.
    """
    rng = _as_rng(rng)
    h, w = int(height), int(width)
    mn = min(h, w)
    img = _background(rng, h, w)
    kinds, colours, centres, masks = [], [], [], []
    placed = []  # (cx, cy, radius)
    for _ in range(int(rng.integers(min_objects, max_objects + 1))):
        if placed and rng.random() < twin_probability:
            twin = int(rng.integers(len(placed)))
            kind, colour = kinds[twin], colours[twin]
        else:
            kind = COCO_THING_CLASSES[int(rng.integers(len(COCO_THING_CLASSES)))]
            colour = REFERRING_COLOURS[int(rng.integers(len(REFERRING_COLOURS)))][0]
        radius = rng.uniform(0.11, 0.17) * mn
        lo, hi = radius + 1, np.array([w, h], float) - 2 - radius
        for _attempt in range(200):
            cx, cy = rng.uniform(lo, hi)
            if all(np.hypot(cx - x, cy - y) >= radius + r + 2 for x, y, r in placed):
                break
        else:
            continue
        shape = _make_shape(rng, kind, radius)
        shape.sprite = _named_colour_sprite(rng, shape.sprite.shape[0], dict(REFERRING_COLOURS)[colour])
        ang = rng.uniform(0, 2 * np.pi)
        mask = _shape_mask(shape, cx, cy, ang, h, w)
        img[mask] = _shape_texture(shape, cx, cy, ang, h, w)[mask]
        ys, xs = np.nonzero(mask)
        placed.append((cx, cy, radius))
        kinds.append(kind)
        colours.append(colour)
        centres.append((xs.mean(), ys.mean()))
        masks.append(mask)
    centres = np.array(centres, float).reshape(-1, 2)
    expressions = []
    for found in referring_expressions(kinds, colours, centres, POSITION_MARGIN * mn):
        keep = rng.permutation(len(found))[:max_sentences]
        expressions.append([found[j] for j in keep])
    return ToyReferringImage(np.clip(np.round(img), 0, 255).astype(np.uint8),
                             np.array(masks, bool).reshape(-1, h, w), kinds, colours, centres, expressions)
