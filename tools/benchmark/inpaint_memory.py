"""Peak memory of seg.apis.inpaint.inpaint_video on a short and a long video: it must not grow with length.

    python tools/benchmark/inpaint_memory.py [--lengths 100 1000] [--height 240 --width 432]
        [--model propainter [--raft-iters 20] [--official | --bf16]]

Renders one toy clip (``seg.toy_data.render_video``, ``--base-frames``
frames) and plays it forwards and backwards to each length, writes it as an
H.264 .mp4 with one PNG mask per frame (object 1, the object to remove), and runs
``inpaint_video`` (default window settings, .mp4 output) with the inpainter of
``--model`` on each in a fresh Python process: the training-free
FlowPropagationInpainter (default) or ProPainter with random weights (the cost
of the release, without its files). The peak resident set size of that child
(its own, :func:`~seg.utils.peak_memory.peak_rss_mib`, not the parent's, which
holds the rendered clip) is reported per length with its frames/s, CPU
seconds per frame (user + system; steadier than frames/s on a shared machine)
and torch threads, and the ratio of the longest to the shortest; the target is at
most ``TARGET_RATIO``.

``--official`` (ProPainter only) runs the official ``inference_propainter.py``
pipeline instead, with our networks: every frame decoded and held, RAFT flows
for the whole video, flow completion in sub-videos of 80 flows and pixel
propagation in sub-videos of 100 frames, all kept, then the generator windows
and every completed frame held until the end; its memory grows with the length
(no target applies, the exit status is 0). ``--bf16`` runs the streaming
ProPainter under bfloat16 autocast (RAFT stays float32, as in the tool), which
roughly halves the generator's CPU time where the CPU has AVX512-BF16.
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
#: Settings of the official ProPainter inference script (its defaults for a video <= 640 px wide).
OFFICIAL_RAFT_CLIP = 12  # frames per RAFT call
OFFICIAL_SUBVIDEO = 80  # flows per flow-completion call
OFFICIAL_SUBVIDEO_PAD = 5  # flows of context on each side of one
OFFICIAL_PROPAGATION_CLIP = 100  # frames per image-propagation call
OFFICIAL_PROPAGATION_PAD = 10  # frames of context on each side of one
OFFICIAL_NEIGHBOR_STRIDE = 5
OFFICIAL_REF_STRIDE = 10


def run_child(mode: str, folder: Path, raft_iters: int, bf16: bool = False):
    """One inpainting run on ``folder``'s clip in a fresh process: peak RSS (MiB), wall and CPU seconds, threads."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), '--child', mode, str(folder),
                              '--raft-iters', str(raft_iters)] + (['--bf16'] if bf16 else []))
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f'the {mode} run failed on {folder} with exit status {child.returncode}')
    threads = int((folder / 'threads.txt').read_text())
    cpu_seconds = usage.ru_utime + usage.ru_stime
    return float((folder / 'peak_mib.txt').read_text()), time.perf_counter() - start, cpu_seconds, threads


def child_main(mode: str, folder: Path, raft_iters: int, bf16: bool = False) -> None:
    """The child: one run of ``mode`` (flow_propagation, propainter or official) on ``folder``/video.mp4."""
    import torch

    from seg.apis.inpaint import inpaint_video
    from seg.models.propainter import ProPainterInpainter
    from seg.utils.peak_memory import peak_rss_mib

    (folder / 'threads.txt').write_text(str(torch.get_num_threads()))
    video, masks, out = folder / 'video.mp4', folder / 'masks', folder / 'out.mp4'
    if mode == 'flow_propagation':
        inpaint_video(video, masks, out, progress=False)
    else:
        torch.manual_seed(0)
        inpainter = ProPainterInpainter(raft_iters=raft_iters).eval()
        if mode == 'propainter':
            inpaint_video(video, masks, out, inpainter=inpainter, bf16=bf16, progress=False)
        else:
            held = official_style_propainter(video, masks, out, inpainter)
            (folder / 'held_mib.txt').write_text(str(held / 2**20))
    (folder / 'peak_mib.txt').write_text(str(peak_rss_mib()))


def official_style_propainter(video: Path, masks_dir: Path, out: Path, inpainter) -> int:
    """``inference_propainter.py``'s pipeline with ``inpainter``'s networks; every frame and flow held at once.

    Returns:
        int: bytes of the whole-video arrays held once the generator has run (frames, masks, raw and
        completed flows, propagated frames and masks, decoded and completed frames).
    """
    import torch
    from seg.apis.inpaint import FramePreparer, read_mask_file
    from seg.fileio.frames import VideoWriter, open_frames, sort_frame_names
    from seg.models.inpainters.padding import mirror_pad_to_multiple
    from seg.models.utils.inpainting_windows import ALL_REFERENCES, neighbor_ids, reference_ids

    source = open_frames(video)
    originals = list(source)
    height, width = originals[0].shape[:2]
    preparer = FramePreparer((height, width), (height, width), mask_dilation=4)
    holes = [preparer.output_hole(read_mask_file(masks_dir / name))
             for name in sort_frame_names([p.name for p in masks_dir.iterdir()])]
    frames = mirror_pad_to_multiple(torch.from_numpy(np.stack(originals)).permute(0, 3, 1, 2).float() / 127.5 - 1,
                                    (8, 8))[None]
    masks = mirror_pad_to_multiple(torch.from_numpy(np.stack(holes)).float()[:, None], (8, 8))[None]
    length = frames.shape[1]
    with torch.no_grad():
        forward, backward = [], []
        for start in range(0, length, OFFICIAL_RAFT_CLIP):
            clip = frames[:, max(0, start - 1):min(length, start + OFFICIAL_RAFT_CLIP)]
            if clip.shape[1] > 1:
                flows = inpainter.flow_estimator(clip)
                forward.append(flows[0])
                backward.append(flows[1])
        raw = (torch.cat(forward, dim=1), torch.cat(backward, dim=1))
        completed_forward, completed_backward = [], []
        for start in range(0, length - 1, OFFICIAL_SUBVIDEO):
            first = max(0, start - OFFICIAL_SUBVIDEO_PAD)
            last = min(length - 1, start + OFFICIAL_SUBVIDEO + OFFICIAL_SUBVIDEO_PAD)
            sub = (raw[0][:, first:last], raw[1][:, first:last])
            pred, _ = inpainter.flow_completion.forward_bidirect_flow(sub, masks[:, first:last + 1])
            pred = inpainter.flow_completion.combine_flow(sub, pred, masks[:, first:last + 1])
            keep = slice(start - first, start - first + min(OFFICIAL_SUBVIDEO, length - 1 - start))
            completed_forward.append(pred[0][:, keep])
            completed_backward.append(pred[1][:, keep])
        completed = (torch.cat(completed_forward, dim=1), torch.cat(completed_backward, dim=1))
        masked = frames * (1 - masks)
        updated_frames, updated_masks = [], []
        for start in range(0, length, OFFICIAL_PROPAGATION_CLIP):
            first = max(0, start - OFFICIAL_PROPAGATION_PAD)
            last = min(length, start + OFFICIAL_PROPAGATION_CLIP + OFFICIAL_PROPAGATION_PAD)
            propagated, remaining = inpainter.generator.img_propagation(
                masked[:, first:last], (completed[0][:, first:last - 1], completed[1][:, first:last - 1]),
                masks[:, first:last], interpolation='nearest')
            keep = slice(start - first, start - first + min(OFFICIAL_PROPAGATION_CLIP, length - start))
            updated_frames.append((masked[:, first:last] + propagated * masks[:, first:last])[:, keep])
            updated_masks.append(remaining[:, keep])
        updated_frames, updated_masks = torch.cat(updated_frames, dim=1), torch.cat(updated_masks, dim=1)
        num_ref = OFFICIAL_SUBVIDEO // OFFICIAL_REF_STRIDE if length > OFFICIAL_SUBVIDEO else ALL_REFERENCES
        completed_frames = [None] * length
        for center in range(0, length, OFFICIAL_NEIGHBOR_STRIDE):
            local = neighbor_ids(center, length, OFFICIAL_NEIGHBOR_STRIDE)
            ids = local + reference_ids(local, length, OFFICIAL_REF_STRIDE, num_ref, center=center)
            local_flows = (completed[0][:, local[:-1]], completed[1][:, local[:-1]])
            pred = inpainter.generator(updated_frames[:, ids], local_flows, masks[:, ids], updated_masks[:, ids],
                                       len(local))
            pred = ((pred[0, :, :, :height, :width] + 1) * 127.5).clamp(0, 255).permute(0, 2, 3, 1).numpy()
            for index, image in zip(local, pred):
                hole = holes[index][..., None]
                result = np.where(hole, image, originals[index]).astype(np.uint8)
                previous = completed_frames[index]
                completed_frames[index] = result if previous is None else (
                    previous.astype(np.float32) * 0.5 + result.astype(np.float32) * 0.5).astype(np.uint8)
    held = sum(t.numel() * t.element_size() for t in (frames, masks, masked, updated_frames, updated_masks) + raw +
               completed) + sum(a.nbytes for a in originals + holes + completed_frames)
    writer = VideoWriter(out, 'mp4', (height, width), source.fps)
    for image in completed_frames:
        writer.write(image)
    writer.close()
    return held


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=[100, 1000], help='video lengths (frames)')
    parser.add_argument('--height', type=int, default=240)
    parser.add_argument('--width', type=int, default=432)
    parser.add_argument('--base-frames', type=int, default=100, help='frames rendered, then played back and forth')
    parser.add_argument('--model', choices=['flow_propagation', 'propainter'], default='flow_propagation',
                        help='the inpainter (propainter: random weights)')
    parser.add_argument('--raft-iters', type=int, default=20, help='RAFT iterations of propainter (official: 20)')
    parser.add_argument('--official', action='store_true',
                        help='propainter as the official script runs it: the whole video in memory')
    parser.add_argument('--bf16', action='store_true',
                        help='propainter under bfloat16 autocast (RAFT in float32); not with --official')
    parser.add_argument('--child', nargs=2, metavar=('MODE', 'FOLDER'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child[0], Path(args.child[1]), args.raft_iters, args.bf16)
        return 0
    if min(args.lengths) < 1 or args.base_frames < 1 or args.raft_iters < 1 or min(args.height, args.width) < 16:
        parser.error('--lengths, --base-frames and --raft-iters must be >= 1, --height and --width >= 16')
    if len(set(args.lengths)) < 2:
        parser.error('--lengths needs two different lengths: the peaks are compared')
    if args.official and args.model != 'propainter':
        parser.error('--official needs --model propainter')
    if args.bf16 and (args.model != 'propainter' or args.official):
        parser.error('--bf16 applies to the streaming --model propainter only')
    mode = 'official' if args.official else args.model

    video = render_video(0, num_frames=args.base_frames, height=args.height, width=args.width, num_objects=3)
    masks = (video.masks == 1).astype(np.uint8) * 255
    peaks = {}
    settings = f'{mode}' + (f', RAFT {args.raft_iters} iterations, random weights' if mode != 'flow_propagation'
                            else '') + (', bf16 autocast' if args.bf16 else '')
    with tempfile.TemporaryDirectory() as tmp:
        for length in args.lengths:
            folder = Path(tmp) / f'len{length}'
            write_clip(folder, video.frames, masks, ping_pong(length, args.base_frames))
            peaks[length], seconds, cpu_seconds, threads = run_child(mode, folder, args.raft_iters, args.bf16)
            held = folder / 'held_mib.txt'
            holding = f'; holds {float(held.read_text()):.1f} MiB of whole-video arrays' if held.exists() else ''
            print_log(f'{settings}: {length:5d} frames {args.width}x{args.height}: peak RSS {peaks[length]:7.1f} MiB, '
                      f'{length / seconds:.3f} frames/s ({seconds:.0f} s; {cpu_seconds / length:.2f} CPU s/frame; '
                      f'{threads} torch threads){holding}', logger='current')
    shortest, longest = min(peaks), max(peaks)
    ratio = peaks[longest] / peaks[shortest]
    if args.official:
        print_log(f'{settings}: peak RSS grows {peaks[longest] - peaks[shortest]:.1f} MiB from {shortest} to '
                  f'{longest} frames ({(peaks[longest] - peaks[shortest]) / (longest - shortest):.2f} MiB/frame, '
                  f'ratio {ratio:.3f})', logger='current')
        return 0
    print_log(f'peak RSS ratio {longest} / {shortest} frames: {ratio:.3f} (target <= {TARGET_RATIO})',
              logger='current')
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == '__main__':
    raise SystemExit(main())
