"""Peak memory and speed of XMem tracking (seg.apis.track) on 100, 500 and 2,000 frames: memory must stay flat.

    python tools/benchmark/vos_memory.py [--lengths 100 500 2000] [--height 96 --width 160]

Renders one toy clip (``seg.toy_data.render_video``, ``--base-frames``
frames), plays it back and forth to each length, writes it as an H.264 .mp4 and
tracks its first-frame objects with ``seg.apis.track`` in a fresh Python process
(frames decoded lazily with PyAV, the official memory settings: long-term memory
on, 10 000 long-term tokens at most). XMem has random weights (seed 0; speed
and memory do not depend on them). Reported per length: the child's peak
resident set size (``os.wait4``'s ``ru_maxrss``) and frames per second; then the
ratio of the longest to the middle length, whose target is at most
``TARGET_RATIO`` (the issue compares 500 and 2,000 frames).
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from mmengine.logging import print_log

from seg.toy_data import render_video
from seg.utils.synthetic_video import ping_pong, write_clip

#: Longest-to-middle peak RSS ratio the streaming design must stay under.
TARGET_RATIO = 1.10
#: The child process: build XMem (seed 0), track the clip, print the frame rate.
CHILD = ('import sys, time, torch\n'
         'from seg.apis import track\n'
         'from seg.fileio.palette import read_palette_png\n'
         'from seg.models.xmem import XMem\n'
         'torch.manual_seed(0)\n'
         'torch.set_num_threads(int(sys.argv[3]))\n'
         'net = XMem().eval()\n'
         'first = read_palette_png(sys.argv[2])[0]\n'
         'start = time.perf_counter()\n'
         'count = sum(1 for _ in track(sys.argv[1], {0: first}, network=net))\n'
         'print(count / (time.perf_counter() - start))\n')


def run_child(folder: Path, threads: int):
    """Track ``folder``'s clip in a child; its peak RSS (MiB) and frames/s."""
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(folder / 'video.mp4'),
                              str(folder / 'masks' / '00000.png'), str(threads)], stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f'tracking failed on {folder} with exit status {os.waitstatus_to_exitcode(status)}')
    return usage.ru_maxrss / 1024, float(output.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=[100, 500, 2000], help='video lengths (frames)')
    parser.add_argument('--height', type=int, default=96)
    parser.add_argument('--width', type=int, default=160)
    parser.add_argument('--base-frames', type=int, default=60, help='frames rendered, then played back and forth')
    parser.add_argument('--threads', type=int, default=2, help='torch threads in the child')
    args = parser.parse_args(argv)

    video = render_video(0, num_frames=args.base_frames, height=args.height, width=args.width, num_objects=2)
    masks = np.where(video.masks <= 2, video.masks, 0).astype(np.uint8)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for length in sorted(args.lengths):
            folder = Path(tmp) / f'len{length}'
            write_clip(folder, video.frames, masks, ping_pong(length, args.base_frames))
            results[length] = run_child(folder, args.threads)
            print_log(f'{length:5d} frames {args.width}x{args.height}: peak RSS {results[length][0]:7.1f} MiB, '
                      f'{results[length][1]:5.1f} frames/s', logger='current')
    lengths = sorted(results)
    middle, longest = lengths[len(lengths) // 2], lengths[-1]
    ratio = results[longest][0] / results[middle][0]
    print_log(f'peak RSS ratio {longest} / {middle} frames: {ratio:.3f} (target <= {TARGET_RATIO})', logger='current')
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == '__main__':
    raise SystemExit(main())
