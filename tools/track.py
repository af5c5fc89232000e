"""Track objects through a video from their first masks (XMem); write palette PNGs and an overlay video.

Examples::

    python tools/track.py video.mp4 masks/ --out work_dirs/track --checkpoint checkpoints/XMem.pth
    python tools/track.py frames/ first.png --out OUT --checkpoint checkpoints/XMem.pth \\
        --overlay OUT.mp4 --max-internal-size 480

MASKS is one palette PNG (frame 0) or a folder of PNGs named by frame index
(objects may start on later frames). OUT receives ``00000.png, 00001.png, ...``
with the input masks' palette; it is filled in a temporary folder and renamed
when the whole video is done, so a failed run leaves nothing half-written.
"""
import argparse
import os
import shutil
import sys
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import List, Optional

import numpy as np
from tqdm import tqdm

#: Overlay opacity of object colours.
OVERLAY_ALPHA = 0.5
#: Frame rate of the overlay when the source has none (frame folders).
DEFAULT_FPS = Fraction(24)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Track objects from their first masks with XMem.')
    parser.add_argument('video', help='video file or folder of frames')
    parser.add_argument('masks', help='palette PNG of frame 0, or a folder of PNGs named by frame index')
    parser.add_argument('--out', required=True, help='folder for the per-frame palette PNGs (must not exist)')
    parser.add_argument('--checkpoint', required=True, help='local XMem checkpoint (XMem.pth)')
    parser.add_argument('--overlay', help='also write the frames with the masks blended in (.mp4)')
    parser.add_argument('--max-internal-size', type=int, default=-1,
                        help='process frames whose shorter side is above N at that size (bounded memory at 4K)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import seg  # noqa: F401  (registries, ops backend)
    from seg.fileio.frames import VIDEO_FORMATS, VideoWriter, open_frames
    from seg.apis.track import TrackingInputError, read_first_masks, track
    from seg.fileio.palette import davis_palette, read_palette_png, write_palette_png
    from seg.visualization.overlay import overlay_masks

    out = Path(args.out)
    if out.exists():
        print(f'error: {out} exists; choose a new output folder', file=sys.stderr)
        return 1
    overlay = Path(args.overlay) if args.overlay else None
    if overlay is not None and overlay.suffix.lower() not in VIDEO_FORMATS:
        print(f'error: --overlay must end in one of {sorted(VIDEO_FORMATS)}', file=sys.stderr)
        return 1
    masks_path = Path(args.masks)
    first_file = masks_path if masks_path.is_file() else min(masks_path.glob('*.png'), default=None)
    palette = read_palette_png(first_file)[1] if first_file is not None else None
    palette = davis_palette() if palette is None else palette
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', dir=out.parent))
    writer = None
    try:
        given = read_first_masks(args.masks)
        frames = open_frames(args.video)
        if overlay is not None:
            writer = VideoWriter(staging / f'overlay{overlay.suffix}', VIDEO_FORMATS[overlay.suffix.lower()],
                                 frames.size, frames.fps or DEFAULT_FPS)
        config = dict(max_internal_size=args.max_internal_size)
        current = {}

        def decoded():  # one decoding pass; the overlay reuses the frame just tracked
            for frame in frames:
                current['frame'] = frame
                yield frame

        results = track(decoded(), given, checkpoint=args.checkpoint, device=args.device, inference_config=config)
        for t, ids in enumerate(tqdm(results, total=frames.num_frames, desc='tracking', unit='frame')):
            write_palette_png(staging / 'masks' / f'{t:05d}.png', ids, palette)
            if writer is not None:
                objects = [i for i in np.unique(ids) if i != 0]
                writer.write(overlay_masks(current['frame'], np.stack([ids == i for i in objects])
                                           if objects else np.zeros((0, *ids.shape), bool), OVERLAY_ALPHA,
                                           colours=palette[objects]))
        if writer is not None:
            writer.close()
            os.replace(staging / f'overlay{overlay.suffix}', overlay)
        os.replace(staging / 'masks', out)
    except (TrackingInputError, FileNotFoundError, ValueError) as err:
        if writer is not None:
            writer.abort()
        print(f'error: {err}', file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f'masks: {out}' + (f'\noverlay: {overlay}' if overlay else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
