"""Remove masked objects from a video.

    python tools/inpaint_video.py VIDEO_OR_FRAMES MASKS --out OUT.mp4 [--config CFG --weights W]
        [--model propainter [--weights-dir DIR | --random-weights]] [--resize WxH] [--max-side N]
        [--mask-dilation N] [--fp16 | --bf16] [--device cuda] [--preview PREVIEW.png] [--debug]

MASKS is a folder with one PNG per frame (same order) or one PNG for every frame;
non-zero pixels are removed (palette PNGs: index 0 is kept; RGBA: the alpha when
it varies). OUT is a video (.mp4/.mov/.mkv/.avi) or a folder for PNG frames.
Without --config/--weights/--model the training-free FlowPropagationInpainter
runs; with --config/--weights, the config's inpainter (e.g. E2FGVI) and its
weights; with --model propainter, ProPainter with the release files
raft-things.pth, recurrent_flow_completion.pth and ProPainter.pth of
--weights-dir (default checkpoints/propainter/). Bad input, or an
output that cannot be written, exits with status 2 and one line giving the reason
(--debug: the traceback); nothing is left at or beside OUT, SIGTERM included.
"""
import argparse
import sys
from typing import Tuple


def size(text: str) -> Tuple[int, int]:
    """'432x240' → (432, 240) (width, height)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected WIDTHxHEIGHT such as 432x240, got {text!r}') from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f'sides must be positive, got {text!r}')
    return width, height


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('frames', help='video file or folder of frame images')
    parser.add_argument('masks', help='folder of PNG masks (one per frame) or one PNG for all frames')
    parser.add_argument('--out', required=True, help='output video (.mp4/.mov/.mkv/.avi) or frame folder')
    parser.add_argument('--config', help='config of the inpainter (default: FlowPropagationInpainter)')
    parser.add_argument('--weights', help='checkpoint of the config\'s inpainter, loaded strictly')
    parser.add_argument('--model', choices=['propainter'], help='a model with release weights instead of a config')
    parser.add_argument('--weights-dir', metavar='DIR',
                        help='folder of the --model\'s release files (default checkpoints/propainter/)')
    parser.add_argument('--random-weights', action='store_true',
                        help='run --model with random weights: a meaningless output, for smoke tests and benchmarks')
    parser.add_argument('--resize', type=size, metavar='WxH', help='output size (frames and masks are resized)')
    parser.add_argument('--mask-dilation', type=int, default=4, metavar='N',
                        help='3x3 cross dilation iterations of every mask (default 4, as E2FGVI\'s test)')
    parser.add_argument('--neighbor-stride', type=int, default=5, help='window stride (default 5)')
    parser.add_argument('--num-ref', type=int, default=-1, help='-1: every --ref-stride-th frame (default)')
    parser.add_argument('--ref-stride', type=int, default=10, help='frames between references (default 10)')
    parser.add_argument('--max-side', type=int, metavar='N',
                        help='inpaint downscaled so the longer side is at most N px; the holes are upscaled back '
                             '(default 1280)')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--fp16', action='store_true', help='float16 autocast (CUDA only)')
    precision.add_argument('--bf16', action='store_true', help='bfloat16 autocast (CPU, or a GPU supporting it)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--preview', help='side-by-side picture (input with mask | output) of the middle frame')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    args = parser.parse_args(argv)
    if args.weights and not args.config:
        parser.error('--weights needs the --config of the model they belong to')
    if args.model and args.config:
        parser.error('--model and --config exclude each other; give one')
    if (args.weights_dir or args.random_weights) and not args.model:
        parser.error('--weights-dir and --random-weights need --model')
    if args.weights_dir and args.random_weights:
        parser.error('--weights-dir and --random-weights exclude each other; give one')

    import seg  # noqa: F401  (chooses the ops backend)
    from mmengine.logging import print_log

    from seg.apis.inpaint import DEFAULT_MAX_SIDE, init_inpainter, inpaint_video
    from seg.apis.tool_errors import run_tool

    def work() -> None:
        inpainter = init_inpainter(args.config, args.weights, args.device, model=args.model,
                                   weights_dir=args.weights_dir, random_weights=args.random_weights)
        inpaint_video(args.frames, args.masks, args.out, inpainter=inpainter, neighbor_stride=args.neighbor_stride,
                      num_ref=args.num_ref, ref_stride=args.ref_stride, resize=args.resize,
                      mask_dilation=args.mask_dilation, fp16=args.fp16, bf16=args.bf16, device=args.device,
                      preview_path=args.preview,
                      max_side=DEFAULT_MAX_SIDE if args.max_side is None else args.max_side)
        print_log(f'wrote {args.out}', logger='current')

    return run_tool(parser.prog, work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
