"""Peak memory and speed of ``VideoSession.propagate`` (no weights) on 200 and 2,000 frames of 480p: memory must
stay flat.

    python tools/benchmark/session_memory.py [--lengths 200 2000] [--height 480 --width 854]

Renders one toy clip (``seg.toy_data.render_video``, ``--base-frames`` frames),
plays it back and forth to each length, writes it as an H.264 .mp4, and in a
fresh Python process per length opens it in a :class:`~seg.apis.VideoSession`
without weights (GrabCut, FlowMaskPropagator), gives object 1 its first-frame
mask and propagates it through every frame (frames decoded lazily, masks kept as
RLE). Reported per length: the child's peak resident set size (its own,
:func:`~seg.utils.peak_memory.peak_rss_mib`, not the parent's, which holds the
rendered clip) and frames per second; then the ratio of the longest to the
shortest length, whose target is at most ``TARGET_RATIO`` (the issue compares
2,000 and 200 frames).
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

#: Longest-to-shortest peak RSS ratio the streaming design must stay under.
TARGET_RATIO = 1.10
#: The child process: open the session, seed object 1 with its first mask, propagate, print the frame rate and
#: its peak RSS (MiB).
CHILD = ('import sys, time\n'
         'import cv2\n'
         'from seg.apis import VideoSession\n'
         'from seg.utils.peak_memory import peak_rss_mib\n'
         'cv2.setNumThreads(int(sys.argv[3]))\n'
         'session = VideoSession(sys.argv[1], checkpoints=sys.argv[4])\n'
         'session.add_prompt(0, 1, mask=cv2.imread(sys.argv[2], cv2.IMREAD_GRAYSCALE) == 1)\n'
         'start = time.perf_counter()\n'
         'count = sum(1 for _ in session.propagate())\n'
         'assert count == session.num_frames\n'
         'rate = count / (time.perf_counter() - start)\n'
         'print(rate, peak_rss_mib())\n')


def run_child(folder: Path, threads: int):
    """Propagate ``folder``'s clip in a child; its peak RSS (MiB) and frames/s."""
    child = subprocess.Popen([sys.executable, '-c', CHILD, str(folder / 'video.mp4'),
                              str(folder / 'masks' / '00000.png'), str(threads), str(folder / 'no_weights')],
                             stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    if child.wait() != 0:
        raise RuntimeError(f'propagation failed on {folder} with exit status {child.returncode}')
    rate, peak_mib = output.strip().splitlines()[-1].split()
    return float(peak_mib), float(rate)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=[200, 2000], help='video lengths (frames)')
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--width', type=int, default=854)
    parser.add_argument('--base-frames', type=int, default=60, help='frames rendered, then played back and forth')
    parser.add_argument('--threads', type=int, default=1, help='OpenCV threads in the child')
    args = parser.parse_args(argv)
    if len(set(args.lengths)) < 2:
        parser.error('--lengths needs two different lengths: the peaks are compared')

    video = render_video(0, num_frames=args.base_frames, height=args.height, width=args.width, num_objects=2)
    masks = np.where(video.masks == 1, 1, 0).astype(np.uint8)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for length in sorted(args.lengths):
            folder = Path(tmp) / f'len{length}'
            write_clip(folder, video.frames, masks, ping_pong(length, args.base_frames))
            results[length] = run_child(folder, args.threads)
            print_log(f'{length:5d} frames {args.width}x{args.height}: peak RSS {results[length][0]:7.1f} MiB, '
                      f'{results[length][1]:5.1f} frames/s', logger='current')
    lengths = sorted(results)
    ratio = results[lengths[-1]][0] / results[lengths[0]][0]
    print_log(f'peak RSS ratio {lengths[-1]} / {lengths[0]} frames: {ratio:.3f} (target <= {TARGET_RATIO})',
              logger='current')
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == '__main__':
    raise SystemExit(main())
