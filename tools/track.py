"""Track objects through a video from their first masks (XMem); write palette PNGs and an overlay video.

Examples::

    python tools/track.py video.mp4 masks/ --out work_dirs/track --checkpoint checkpoints/XMem.pth
    python tools/track.py frames/ first.png --out OUT --checkpoint checkpoints/XMem.pth \\
        --overlay OUT.mp4 --max-internal-size 480

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


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Track objects from their first masks with XMem.')
    parser.add_argument('video', help='video file or folder of frames')
    parser.add_argument('masks', help='palette PNG of frame 0, or a folder of PNGs named by frame index')
    parser.add_argument('--out', required=True, help='folder for the per-frame palette PNGs (must not exist)')
    parser.add_argument('--checkpoint', required=True,
                        help='local XMem checkpoint: the released XMem.pth, or an XMemVOS checkpoint of tools/train.py')
    parser.add_argument('--overlay', help='also write the frames with the masks blended in (.mp4; must not exist)')
    parser.add_argument('--max-internal-size', type=int, default=-1,
                        help='process frames whose shorter side is above N (>= 16) at that size (bounded memory '
                             'at 4K); -1 keeps every size')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import seg  # noqa: F401  (registries, ops backend)
    from seg.apis.tool_errors import run_tool
    from seg.apis.track import track_to_folder
    from seg.fileio.atomic import sigterm_exits

    def work() -> None:
        out = track_to_folder(args.video, args.masks, args.out, checkpoint=args.checkpoint, overlay=args.overlay,
                              device=args.device, inference_config=dict(max_internal_size=args.max_internal_size),
                              progress=True)
        print(f'masks: {out}' + (f'\noverlay: {args.overlay}' if args.overlay else ''))

    with sigterm_exits():
        return run_tool('track.py', work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
