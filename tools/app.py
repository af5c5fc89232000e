"""A local web page to segment, track and remove an object in a video (Starlette + uvicorn).

Examples::

    python tools/app.py                                   # http://127.0.0.1:7860
    python tools/app.py --port 8000 --work-dir work_dirs/app --max-upload-mb 200 --video-dir ~/videos

Open a video (upload it, or give a path under a ``--video-dir``), click the
object (positive / negative points) or drag a box on any frame, propagate,
correct where it drifts, then download the masks (zip of palette PNGs), the
overlay video or the video with the object removed.  Each browser gets its own
session and folder under ``--work-dir``; the server only writes and serves
files there.  The backends (segmenter, tracker, inpainter) are those
``seg.apis.VideoSession`` finds weights for under ``--checkpoints``; with none,
the classical ones (GrabCut, optical-flow propagation, flow-guided inpainting).
"""
import argparse
import sys
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Serve the segment / track / remove web page locally.')
    parser.add_argument('--port', type=int, default=7860, help='port to listen on')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to bind (default: this machine only; 0.0.0.0 exposes it to the network)')
    parser.add_argument('--work-dir', default='work_dirs/app', help='the only folder the app writes to')
    parser.add_argument('--max-upload-mb', type=float, default=500, help='largest video upload accepted, MiB')
    parser.add_argument('--video-dir', action='append', default=[],
                        help='folder whose videos may be opened by server-side path (repeatable; default: none, '
                             'uploads only)')
    parser.add_argument('--checkpoints', default='checkpoints', help='folder searched for model weights')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.max_upload_mb <= 0:
        print('app.py: error: --max-upload-mb must be > 0', file=sys.stderr)
        return 2
    import seg  # noqa: F401  (registries, ops backend)
    from seg.apis.web import serve
    serve(args.work_dir, port=args.port, host=args.host, max_upload_mb=args.max_upload_mb,
          video_dirs=args.video_dir, checkpoints=args.checkpoints, device=args.device)
    return 0


if __name__ == '__main__':
    sys.exit(main())
