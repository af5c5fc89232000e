#!/usr/bin/env python
"""Precompute the forward and backward optical flows of consecutive frames of every video (ProPainter's Flows_flo).

Examples::

    python tools/data/compute_flow.py datasets/youtube-vos/JPEGImages_432_240 datasets/youtube-vos/Flows_flo \\
        --raft checkpoints/propainter/raft-things.pth --device cuda
    python tools/data/compute_flow.py data/toy/propainter/JPEGImages_432_240 data/toy/propainter/Flows_flo

FRAMES holds one frame folder (or video file, or frame zip) per video; OUT receives
``<vid>/<a>_<b>_f.flo`` (flow from frame ``a`` to the next frame ``b``) and
``<vid>/<b>_<a>_b.flo`` (from ``b`` back to ``a``), named after the frame files'
stems as the official ``scripts/compute_flow.py`` names them. With ``--raft`` the
flows come from RAFT (20 iterations, as the official), otherwise from OpenCV's DIS
(no weights needed). ``.flo`` files hold float16 values by default, as the official
writes and reads them (``--dtype float32``: standard Middlebury); ``--format npy``
writes ``.npy`` arrays. Each video is written into a hidden temporary folder renamed
into place when complete: a rerun skips videos whose flows are complete, and an
interrupted run (SIGTERM included) leaves nothing half-written. Bad input exits with
status 2 and one ``compute_flow.py: error: ...`` line (``--debug``: the traceback).
``seg.apis.dataset_preparation.compute_flows`` does the work.
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
    parser.add_argument('frames', help='folder of the videos (e.g. <data_root>/JPEGImages_432_240)')
    parser.add_argument('out', help='output folder of the flows (e.g. <data_root>/Flows_flo)')
    parser.add_argument('--raft', metavar='CHECKPOINT',
                        help='local RAFT weights (e.g. checkpoints/propainter/raft-things.pth); default: OpenCV DIS')
    parser.add_argument('--iters', type=int, default=20, help='RAFT iterations (default 20, as the official)')
    parser.add_argument('--dis-preset', default='medium', choices=('ultrafast', 'fast', 'medium'),
                        help='DIS preset without --raft (default medium)')
    parser.add_argument('--size', type=size, metavar='WxH',
                        help='compute the flows at this size (frames resized first); default: the frames\' size')
    parser.add_argument('--format', dest='flow_format', default='flo', choices=('flo', 'npy'),
                        help='file format (default flo)')
    parser.add_argument('--dtype', default='float16', choices=('float16', 'float32'),
                        help='stored values (default float16, what ProPainter reads; float32: Middlebury)')
    parser.add_argument('--ann-file', help='only the videos of this {vid: num_frames} json (e.g. train.json)')
    parser.add_argument('--device', default='cpu', help='where RAFT runs: cpu, cuda, cuda:1, ...')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import seg  # noqa: F401  (registries, ops backend)
    from seg.apis.dataset_preparation import compute_flows, read_video_names
    from seg.apis.tool_errors import run_tool
    from seg.fileio.atomic import sigterm_exits

    def work() -> None:
        videos = None if args.ann_file is None else read_video_names(args.ann_file)
        summary = compute_flows(args.frames, args.out, raft_checkpoint=args.raft, videos=videos,
                                flow_format=args.flow_format, dtype=args.dtype, size=args.size, iters=args.iters,
                                dis_preset=args.dis_preset, device=args.device, progress=True)
        print(f'{args.out}: flows of {len(summary.written)} videos written, {len(summary.skipped)} already complete')

    with sigterm_exits():
        return run_tool('compute_flow.py', work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
