"""Peak memory of seg.apis.inpaint.inpaint_video on a short and a long video: it must not grow with length.

    python tools/benchmark/inpaint_memory.py [--lengths 100 1000] [--height 240 --width 432]

Renders one toy clip (``seg.toy_data.render_video``, ``--base-frames``
frames) and plays it forwards and backwards to each length, writes it as an
H.264 .mp4 with one PNG mask per frame (object 1, the object to remove), and runs
``inpaint_video`` (default FlowPropagationInpainter and window settings, .mp4
output) on each in a fresh Python process. The peak resident set size of that
child (``os.wait4``'s ``ru_maxrss``) is reported per length, with the ratio of the
longest to the shortest; the target is at most ``TARGET_RATIO``.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mmengine.logging import print_log

from seg.toy_data import render_video
from seg.utils.synthetic_video import ping_pong, write_clip

#: Longest-to-shortest peak RSS ratio the streaming design must stay under.
TARGET_RATIO = 1.10
#: The child process: one inpaint_video call, nothing else.
CHILD = ('import sys\n'
         'from seg.apis.inpaint import inpaint_video\n'
         'inpaint_video(sys.argv[1], sys.argv[2], sys.argv[3], progress=False)\n')


def peak_rss_mib(folder: Path) -> float:
    """Run the child on ``folder``'s clip; its peak RSS in MiB (Linux reports ru_maxrss in KiB)."""
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(folder / 'video.mp4'), str(folder / 'masks'),
                              str(folder / 'out.mp4')])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f'inpaint_video failed on {folder} with exit status {child.returncode}')
    return usage.ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=[100, 1000], help='video lengths (frames)')
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--width', type=int, default=432)
    parser.add_argument('--base-frames', type=int, default=100, help='frames rendered, then played back and forth')
    args = parser.parse_args(argv)

    video = render_video(0, num_frames=args.base_frames, height=args.height, width=args.width, num_objects=3)
    masks = (video.masks == 1).astype(np.uint8) * 255
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for length in args.lengths:
            folder = Path(tmp) / f'len{length}'
            write_clip(folder, video.frames, masks, ping_pong(length, args.base_frames))
            start = time.perf_counter()
            peaks[length] = peak_rss_mib(folder)
            print_log(f'{length:5d} frames {args.width}x{args.height}: peak RSS {peaks[length]:7.1f} MiB '
                      f'({time.perf_counter() - start:.0f} s)', logger='current')
    shortest, longest = min(peaks), max(peaks)
    ratio = peaks[longest] / peaks[shortest]
    print_log(f'peak RSS ratio {longest} / {shortest} frames: {ratio:.3f} (target <= {TARGET_RATIO})',
              logger='current')
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == '__main__':
    raise SystemExit(main())
