#!/usr/bin/env python
"""Generate FastSAM2's deterministic toy datasets (DAVIS, YouTube-VOS, E2FGVI, COCO panoptic, YouTube-VIS, DUTS,
RefCOCO, ProPainter).

Example::

    python tools/data/make_toy_data.py                      # everything under data/toy/
    python tools/data/make_toy_data.py --layouts davis --num-videos 2 --num-frames 8
    python tools/data/make_toy_data.py --layouts refcoco    # data/toy/refcoco/{train2014,refcoco}
    python tools/data/make_toy_data.py --layouts propainter # data/toy/propainter/JPEGImages_432_240, test_masks

Each layout goes to ``<out>/<layout>/``.  A layout already made with the same arguments is left as
it is; otherwise it is rebuilt in a temporary sibling directory and renamed into place.  See
``seg/toy_data/`` for the layouts and the default sizes.
"""
import argparse
import sys
import time
from pathlib import Path

import seg.toy_data as td


def parse_args(argv, layouts, default_root):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default=default_root,
                   help=f'root; each layout goes to <out>/<layout> (default: {default_root})')
    p.add_argument('--layouts', nargs='+', choices=layouts, default=list(layouts), metavar='LAYOUT',
                   help=f'layouts to make, of: {" ".join(layouts)} (default: all)')
    p.add_argument('--seed', type=int, default=0, help='random seed (default: 0)')
    p.add_argument('--num-videos', type=int, help='training videos per video layout (default: layout default)')
    p.add_argument('--num-val-videos', type=int, help='val/test videos (default: max(1, num_videos // 2))')
    p.add_argument('--num-frames', type=int, help='frames per video (default: layout default)')
    p.add_argument('--height', type=int, help='frame / image height in px, all layouts (default: layout default)')
    p.add_argument('--width', type=int, help='frame / image width in px, all layouts (default: layout default)')
    p.add_argument('--num-images', type=int,
                   help='COCO panoptic / static / RefCOCO training images (default: layout default)')
    p.add_argument('--num-val-images', type=int,
                   help='COCO panoptic / static / RefCOCO val images (default: max(1, num_images // 4))')
    p.add_argument('--force', action='store_true', help='regenerate even when up to date')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv, td.LAYOUTS, td.DEFAULT_ROOT)
    for layout in args.layouts:
        kwargs = td.layout_kwargs(layout, args.num_videos, args.num_val_videos, args.num_frames, args.height,
                                  args.width, args.num_images, args.num_val_images)
        start = time.perf_counter()
        path, generated = td.make_layout(layout, Path(args.out) / layout, args.seed, args.force, **kwargs)
        params = td.layout_defaults(layout)
        params.update(kwargs)
        size = f'{params["height"]}x{params["width"]}'
        if 'num_test' in params:
            what = f'{params["num_train"]}+{params["num_val"]}+{params["num_test"]}+{params["num_test"]} images {size}'
        elif layout in td.IMAGE_LAYOUTS:
            what = f'{params["num_train"]}+{params["num_val"]} images {size}'
        else:
            what = f'{params["num_train"]}+{params["num_val"]} videos x {params["num_frames"]} frames {size}'
        state = 'generated' if generated else 'up to date'
        print(f'{layout}: {state} {path} ({what}, {time.perf_counter() - start:.2f}s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
