"""Track objects through a video from their first masks (XMem), or one object from clicks or a box; write palette
PNGs and an overlay video.

Examples::

    python tools/track.py video.mp4 masks/ --out work_dirs/track --checkpoint checkpoints/XMem.pth
    python tools/track.py frames/ first.png --out OUT --checkpoint checkpoints/XMem.pth \\
        --overlay OUT.mp4 --max-internal-size 480
    python tools/track.py video.mp4 --point 0,330,40 --out OUT --overlay OUT.mp4

With --point / --negative / --box instead of MASKS, one object (id 1) is
segmented from the clicks and box and tracked by ``seg.apis.VideoSession`` with
the backends the weights under --checkpoints allow (XMem with
``checkpoints/XMem.pth``, else optical-flow mask propagation; see
``tools/remove_object.py`` for the prompt format).

MASKS is one palette PNG (frame 0) or a folder of PNGs named by frame index
(objects may start on later frames). OUT receives ``00000.png, 00001.png, ...``
with the input masks' palette; it is filled in a temporary folder and renamed
when the whole video is done, so a failed or terminated (SIGTERM) run leaves
nothing half-written (``seg.apis.track.track_to_folder`` does the work). Bad
input (a JPEG or noisy mask, an existing or unwritable OUT, a checkpoint of
another model, ...) exits with status 2 and one ``track.py: error: ...`` line;
``--debug`` shows the traceback instead.
"""
import argparse
import sys
from typing import List, Optional

from seg.apis.remove_object import add_prompt_arguments


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Track objects from their first masks with XMem.')
    parser.add_argument('video', help='video file or folder of frames')
    parser.add_argument('masks', nargs='?',
                        help='palette PNG of frame 0, or a folder of PNGs named by frame index; or give --point/--box')
    add_prompt_arguments(parser)
    parser.add_argument('--out', required=True, help='folder for the per-frame palette PNGs (must not exist)')
    parser.add_argument('--checkpoint',
                        help='local XMem checkpoint: the released XMem.pth, or an XMemVOS checkpoint of tools/train.py '
                             '(needed with MASKS; with --point/--box it makes XMem the tracker)')
    parser.add_argument('--checkpoints', default='checkpoints',
                        help='with --point/--box: folder searched for weights')
    parser.add_argument('--overlay', help='also write the frames with the masks blended in (.mp4; must not exist)')
    parser.add_argument('--max-internal-size', type=int, default=-1,
                        help='process frames whose shorter side is above N (>= 16) at that size (bounded memory '
                             'at 4K); -1 keeps every size')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    args = parser.parse_args(argv)
    prompted = bool(args.point or args.negative or args.box)
    if (args.masks is None) == (not prompted):
        parser.error('give MASKS or --point/--box (not both)')
    if args.masks is not None and args.checkpoint is None:
        parser.error('MASKS are tracked by XMem: give --checkpoint (the released XMem.pth)')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import seg  # noqa: F401  (registries, ops backend)
    from seg.apis.remove_object import track_from_prompts
    from seg.apis.tool_errors import run_tool
    from seg.apis.track import track_to_folder
    from seg.fileio.atomic import sigterm_exits

    def work() -> None:
        if args.masks is None:
            out = track_from_prompts(args.video, args.out, args.point, args.negative, args.box, overlay=args.overlay,
                                     checkpoints=args.checkpoints, xmem_checkpoint=args.checkpoint, device=args.device)
            print(f'masks: {out}' + (f'\noverlay: {args.overlay}' if args.overlay else ''))
            return
        out = track_to_folder(args.video, args.masks, args.out, checkpoint=args.checkpoint, overlay=args.overlay,
                              device=args.device, inference_config=dict(max_internal_size=args.max_internal_size),
                              progress=True)
        print(f'masks: {out}' + (f'\noverlay: {args.overlay}' if args.overlay else ''))

    with sigterm_exits():
        return run_tool('track.py', work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
