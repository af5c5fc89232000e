"""Score completed videos (frame folders) against the ground truth: PSNR/SSIM, optionally VFID and E_warp.

Examples::

    python tools/analysis/inpaint_eval.py --gt data/davis/gt --pred work_dirs/e2fgvi/results
    python tools/analysis/inpaint_eval.py --gt GT --pred PRED --json scores.json \\
        --i3d checkpoints/i3d_rgb_imagenet.pt --ewarp

GT and PRED hold one subfolder per video with its frames (``*.png`` / ``*.jpg``),
paired by frame number (``7.png`` is ``00007.png``) when both name every frame by
a number, else by name; folders whose frames do not correspond are refused.
Prints a per-video table; ``--json`` writes ``{videos: {...}, overall: {...}}``
atomically. Scores as in E2FGVI's evaluation (see
``seg.evaluation.functional.inpainting_metrics``), except that a frame's PSNR
counts at most 100 dB in the averages (identical frames: inf), as the output
says when it happens. Bad input, or a ``--json`` that cannot be written, exits
with status 2 and one line giving the reason (``--debug``: the traceback).
"""
import argparse
import sys
from typing import List, Optional

from seg.apis.tool_errors import run_tool
from seg.evaluation.functional.inpainting_metrics import format_score_table
from seg.evaluation.inpaint_folders import evaluate_inpainting_folders
from seg.fileio.atomic import check_writable, write_json_atomic


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Score completed videos against the ground truth.')
    parser.add_argument('--gt', required=True, help='ground-truth root: <gt>/<video>/<frame>.png')
    parser.add_argument('--pred', required=True, help='completed videos root: <pred>/<video>/<frame>.png')
    parser.add_argument('--json', metavar='OUT', help='write the per-video and overall scores to this json file')
    parser.add_argument('--i3d', metavar='PATH', help='local i3d_rgb_imagenet.pt: also report VFID')
    parser.add_argument('--ewarp', action='store_true', help='also report the flow warping error (OpenCV DIS flow)')
    parser.add_argument('--progress', action='store_true', help='show a progress bar over the videos')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)

    def work() -> None:
        if args.json:
            check_writable(args.json)
        summary = evaluate_inpainting_folders(args.gt, args.pred, i3d_weights=args.i3d, ewarp=args.ewarp,
                                              show_progress=args.progress)
        print(format_score_table(summary))
        if args.json:
            write_json_atomic(args.json, summary)
            print(f'scores: {args.json}')

    return run_tool('inpaint_eval.py', work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
