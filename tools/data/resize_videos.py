#!/usr/bin/env python
"""Resize every video of a folder to JPEG frame folders of one size (ProPainter's / E2FGVI's JPEGImages_432_240).

Examples::

    python tools/data/resize_videos.py datasets/youtube-vos/JPEGImages datasets/youtube-vos/JPEGImages_432_240
    python tools/data/resize_videos.py datasets/davis/JPEGImages/480p datasets/davis/JPEGImages_432_240
    python tools/data/resize_videos.py videos/ frames/ --size 864x480 --ann-file train.json

SRC holds one frame folder (``<vid>/*.jpg|png``), video file (``<vid>.mp4``, ...) or
frame zip (``<vid>.zip``) per video; OUT receives ``<vid>/<stem>.jpg`` (the source
frames' stems; ``00000``.. for video files). Each video is written into a hidden
temporary folder renamed into place when complete: a rerun skips finished videos,
and an interrupted run (SIGTERM included) leaves nothing half-written. Bad input
exits with status 2 and one ``resize_videos.py: error: ...`` line (``--debug``: the
traceback). ``seg.apis.dataset_preparation.resize_videos`` does the work.
"""
import argparse
import sys
from typing import List, Optional, Tuple


def size(text: str) -> Tuple[int, int]:
    """'432x240' → (432, 240) (width, height)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT such as 432x240, got {text!r}') from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f'sides must be positive, got {text!r}')
    return width, height


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='folder of the videos (frame folders, video files or frame zips)')
    parser.add_argument('out', help='output folder: <out>/<vid>/<stem>.jpg')
    parser.add_argument('--size', type=size, default=(432, 240), metavar='WxH', help='output size (default 432x240)')
    parser.add_argument('--ann-file', help='only the videos of this {vid: num_frames} json (e.g. train.json)')
    parser.add_argument('--quality', type=int, default=95, help='JPEG quality 0..100 (default 95)')
    parser.add_argument('--interpolation', default='area', choices=('area', 'linear', 'cubic'),
                        help='OpenCV interpolation (default area)')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from seg.apis.dataset_preparation import read_video_names, resize_videos
    from seg.apis.tool_errors import run_tool
    from seg.fileio.atomic import sigterm_exits

    def work() -> None:
        videos = None if args.ann_file is None else read_video_names(args.ann_file)
        summary = resize_videos(args.src, args.out, size=args.size, videos=videos, quality=args.quality,
                                interpolation=args.interpolation, progress=True)
        print(f'{args.out}: {len(summary.written)} videos written, {len(summary.skipped)} already complete')

    with sigterm_exits():
        return run_tool('resize_videos.py', work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
