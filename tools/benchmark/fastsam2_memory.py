"""Peak memory and speed of FastSAM2's StreamingMemoryAdapter streamed over 100 and 2,000 frames: memory must stay flat.

    python tools/benchmark/fastsam2_memory.py [--frames 100 2000] [--size 128] [--channels 64] [--objects 3]

Each length runs in a fresh Python process, so each peak resident set size
(the child's own, :func:`~seg.utils.peak_memory.peak_rss_mib`) belongs to one run. The child
builds the adapter (default settings, seed 0; speed and memory do not depend on
the weights), prompts ``--objects`` random queries on frame 0 and calls
``step()`` (default decode, under ``torch.no_grad``) on one fresh random
(channels, size, size) feature map per frame (the defaults are a 512 px frame at
stride 4). Frames per second count the ``step()`` calls only, not drawing the
features. Reported per length: frames/s, torch threads, peak RSS; then the ratio
of the longest to the shortest length's peak RSS, whose target is at most
``TARGET_RATIO`` (exit status 1 above it).
"""
import argparse
import json
import subprocess
import sys

from mmengine.logging import print_log

#: Longest-to-shortest peak RSS ratio the bounded memory must stay under.
TARGET_RATIO = 1.10
#: The child process: stream the adapter over argv[1] frames, print a JSON line with frames/s, threads, peak RSS.
CHILD = ('import json, sys, time, torch\n'
         'from seg.models.fastsam2 import StreamingMemoryAdapter\n'
         'from seg.utils.peak_memory import peak_rss_mib\n'
         'frames, size, channels, objects, threads = map(int, sys.argv[1:6])\n'
         'torch.set_num_threads(threads)\n'
         'torch.manual_seed(0)\n'
         'adapter = StreamingMemoryAdapter(channels).eval()\n'
         'prompts = dict(enumerate(torch.randn(objects, channels)))\n'
         'elapsed = 0.0\n'
         'with torch.no_grad():\n'
         '    for t in range(frames):\n'
         '        feats = torch.randn(channels, size, size)\n'
         '        start = time.perf_counter()\n'
         '        adapter.step(feats, prompts if t == 0 else None)\n'
         '        elapsed += time.perf_counter() - start\n'
         'print(json.dumps({"fps": frames / elapsed, "threads": torch.get_num_threads(),\n'
         '                  "peak_rss_mib": peak_rss_mib()}))\n')


def run_child(frames: int, args: argparse.Namespace) -> dict:
    """Stream ``frames`` frames in a child process; its frames/s, torch threads and peak RSS (MiB)."""
    result = subprocess.run([sys.executable, '-c', CHILD, str(frames), str(args.size), str(args.channels),
                             str(args.objects), str(args.threads)], stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(f'streaming {frames} frames failed with exit status {result.returncode}')
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, nargs='+', default=[100, 2000], help='video lengths (frames)')
    parser.add_argument('--size', type=int, default=128, help='feature map height = width (pixels at stride 4)')
    parser.add_argument('--channels', type=int, default=64, help='feature and query channels')
    parser.add_argument('--objects', type=int, default=3, help='objects tracked from frame 0')
    parser.add_argument('--threads', type=int, default=2, help='torch threads in the child')
    args = parser.parse_args(argv)
    if len(set(args.frames)) < 2:
        parser.error('--frames needs two different lengths: the peaks are compared')

    results = {}
    for frames in sorted(set(args.frames)):
        results[frames] = run_child(frames, args)
        print_log(f'{frames:5d} frames {args.channels}x{args.size}x{args.size}, {args.objects} objects: '
                  f'{results[frames]["fps"]:7.1f} frames/s, {results[frames]["threads"]} threads, '
                  f'peak RSS {results[frames]["peak_rss_mib"]:7.1f} MiB', logger='current')
    shortest, longest = min(results), max(results)
    ratio = results[longest]['peak_rss_mib'] / results[shortest]['peak_rss_mib']
    print_log(f'peak RSS ratio {longest} / {shortest} frames: {ratio:.3f} (target <= {TARGET_RATIO})',
              logger='current')
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == '__main__':
    raise SystemExit(main())
