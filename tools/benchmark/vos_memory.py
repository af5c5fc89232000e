"""Peak memory and speed of XMem tracking (seg.apis.track) on 100, 500 and 2,000 frames: memory must stay flat.

    python tools/benchmark/vos_memory.py [--lengths 100 500 2000] [--height 96 --width 160]

Renders one toy clip (``seg.toy_data.render_video``, ``--base-frames``
frames), plays it back and forth to each length, writes it as an H.264 .mp4 and
tracks its first-frame objects with ``seg.apis.track`` in a fresh Python process
(frames decoded lazily with PyAV, the official memory settings: long-term memory
on, 10 000 long-term tokens at most). XMem has random weights (seed 0; speed
and memory do not depend on them). Reported per length: the child's peak
resident set size (its own, :func:`~seg.utils.peak_memory.peak_rss_mib`, not
the parent's, which holds the rendered clip) and frames per second; then the
ratio of the longest to the next-longest length, whose target is at most
``TARGET_RATIO`` (the issue compares 500 and 2,000 frames).
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from mmengine.logging import print_log

from seg.toy_data import render_video
from seg.utils.synthetic_video import ping_pong, write_clip

#: Longest-to-next-longest peak RSS ratio the streaming design must stay under.
TARGET_RATIO = 1.10
#: The child process: build XMem (seed 0), track the clip, print the frame rate and its peak RSS (MiB).
CHILD = ('import sys, time, torch\n'
         'from seg.apis import track\n'
         'from seg.utils.peak_memory import peak_rss_mib\n'
         'from seg.fileio.palette import read_palette_png\n'
         'from seg.models.xmem import XMem\n'
         'torch.manual_seed(0)\n'
         'torch.set_num_threads(int(sys.argv[3]))\n'
         'net = XMem().eval()\n'
         'first = read_palette_png(sys.argv[2])[0]\n'
         'start = time.perf_counter()\n'
         'count = sum(1 for _ in track(sys.argv[1], {0: first}, network=net))\n'
         'print(count / (time.perf_counter() - start), peak_rss_mib())\n')


def run_child(folder: Path, threads: int):
    """Track ``folder``'s clip in a child; its peak RSS (MiB) and frames/s."""
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(folder / 'video.mp4'),
                              str(folder / 'masks' / '00000.png'), str(threads)], stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    if child.wait() != 0:
        raise RuntimeError(f'tracking failed on {folder} with exit status {child.returncode}')
    rate, peak_mib = output.strip().splitlines()[-1].split()
    return float(peak_mib), float(rate)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=[100, 500, 2000], help='video lengths (frames)')
    parser.add_argument('--height', type=int, default=96)
    parser.add_argument('--width', type=int, default=160)
    parser.add_argument('--base-frames', type=int, default=60, help='frames rendered, then played back and forth')
    parser.add_argument('--threads', type=int, default=2, help='torch threads in the child')
    args = parser.parse_args(argv)
    if len(set(args.lengths)) < 2:
        parser.error('--lengths needs two different lengths: the peaks are compared')

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
    shorter, longest = lengths[-2], lengths[-1]
    ratio = results[longest][0] / results[shorter][0]
    print_log(f'peak RSS ratio {longest} / {shorter} frames: {ratio:.3f} (target <= {TARGET_RATIO})', logger='current')
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == '__main__':
    raise SystemExit(main())
