"""Score completed videos (frame folders) against the ground truth: PSNR/SSIM, optionally VFID and E_warp.

Examples::

    python tools/analysis/inpaint_eval.py --gt data/davis/gt --pred work_dirs/e2fgvi/results
    python tools/analysis/inpaint_eval.py --gt GT --pred PRED --json scores.json \\
        --i3d checkpoints/i3d_rgb_imagenet.pt --ewarp

GT and PRED hold one subfolder per video with its frames (``*.png`` / ``*.jpg``,
matched in sorted order). Prints a per-video table; ``--json`` writes
``{videos: {...}, overall: {...}}`` atomically. Scores as in E2FGVI's
evaluation (see ``seg.evaluation.functional.inpainting_metrics``).
"""
import argparse
import sys
from typing import List, Optional

from seg.evaluation.functional.inpainting_metrics import format_score_table
from seg.evaluation.inpaint_folders import evaluate_inpainting_folders
from seg.fileio.atomic import write_json_atomic


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Score completed videos against the ground truth.')
    parser.add_argument('--gt', required=True, help='ground-truth root: <gt>/<video>/<frame>.png')
    parser.add_argument('--pred', required=True, help='completed videos root: <pred>/<video>/<frame>.png')
    parser.add_argument('--json', metavar='OUT', help='write the per-video and overall scores to this json file')
    parser.add_argument('--i3d', metavar='PATH', help='local i3d_rgb_imagenet.pt: also report VFID')
    parser.add_argument('--ewarp', action='store_true', help='also report the flow warping error (OpenCV DIS flow)')
    parser.add_argument('--progress', action='store_true', help='show a progress bar over the videos')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        summary = evaluate_inpainting_folders(args.gt, args.pred, i3d_weights=args.i3d, ewarp=args.ewarp,
                                              show_progress=args.progress)
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(format_score_table(summary))
    if args.json:
        write_json_atomic(args.json, summary)
        print(f'scores: {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
