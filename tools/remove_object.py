"""Segment an object from clicks or a box, track it through the video and remove it, in one command.

Examples::

    python tools/remove_object.py video.mp4 --point 0,330,40 --out-video removed.mp4 --preview preview.png
    python tools/remove_object.py frames/ --point 0,120,80 --negative 0,150,90 --box 30,100,40,220,200 \\
        --out-masks out/ --out-video out/removed.mp4

Prompts (pixels, frame indices from 0) all belong to one object: the earliest
prompted frame seeds it, prompts on later frames correct it. Backends are chosen
by the weights under --checkpoints and logged (without any: GrabCut, optical-flow
mask propagation, flow-propagation inpainting). --out-masks DIR receives
``masks/00000.png, ...`` (palette PNGs, object id 1) and ``masks_coco_rle.json``;
--preview writes a side-by-side picture (mask overlay | result) of the frame where
the object is largest. Outputs are written under temporary names and renamed when
complete. Bad input exits with status 2 and one ``remove_object.py: error: ...``
line; --debug shows the traceback instead (``seg.apis.remove_object`` does the work).
"""
import argparse
import sys
from typing import List, Optional

from seg.apis.remove_object import add_prompt_arguments


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Segment, track and remove an object from clicks or a box.')
    parser.add_argument('video', help='video file, folder of frames or zip of frames')
    add_prompt_arguments(parser)
    parser.add_argument('--out-masks', metavar='DIR', help='folder for masks/*.png and masks_coco_rle.json')
    parser.add_argument('--out-video', metavar='OUT.mp4', help='the video with the object removed (must not exist)')
    parser.add_argument('--preview', metavar='PNG', help='side-by-side picture: mask overlay | result')
    parser.add_argument('--checkpoints', default='checkpoints', help='folder searched for weights')
    parser.add_argument('--work-dir', help='folder for temporary files (default: the system\'s)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import seg  # noqa: F401  (registries, ops backend)
    from seg.apis.remove_object import remove_object
    from seg.apis.tool_errors import run_tool
    from seg.fileio.atomic import sigterm_exits

    def work() -> None:
        written = remove_object(args.video, args.point, args.negative, args.box, out_masks=args.out_masks,
                                out_video=args.out_video, preview=args.preview, checkpoints=args.checkpoints,
                                device=args.device, work_dir=args.work_dir)
        for what, path in written.items():
            print(f'{what}: {path}')

    with sigterm_exits():
        return run_tool('remove_object.py', work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
