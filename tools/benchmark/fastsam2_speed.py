"""Frames per second of FastSAM2-R18 and RapSAM-R50 per task, side by side, at 512 px.

    python tools/benchmark/fastsam2_speed.py [--size 512] [--frames 3] [--iters N] [--warmup N]
        [--device cpu|cuda] [--amp] [--threads N] [--tasks panoptic interactive ...]
        [--clip-model NAME] [--clip-checkpoint PATH]

Models, built in eval mode with random weights (seed 0; speed does not depend
on the weights, so no checkpoint is loaded):

* FastSAM2-R18: ``configs/_base_/models/fastsam2_r18.py``;
* RapSAM-R50: the official recipe's model, ``configs/rapsam/rapsam_r50_12e_adaptor.py``.

Both are built with ``backbone.init_cfg=None`` and ``class_embed_path=None``
(a random vocabulary of the same size, 155 classes x 768 channels), so neither
the ImageNet weights nor the class-embedding file need to exist. When the
OpenCLIP checkpoint of FastSAM2's text tower is missing, a
``ToyTextEncoder(embed_dim=768)`` stands in for it (the output says so); when it
exists, the real tower is used and also timed alone (one sentence, its cache
cleared before each call).
FastSAM2's ``TextEncoder`` caches each sentence's embedding, so after the
warm-up its referring row excludes the text tower either way.

One sample per call (batch size 1), each a random uint8 BGR image of
``--size`` x ``--size`` (a clip: ``--frames`` of them), as a data loader gives it:

=================  =============================================  ==================================
task               FastSAM2-R18                                   RapSAM-R50
=================  =============================================  ==================================
panoptic           an image                                       an image
interactive        an image, 5 objects: one click + one box each  an image, 5 box prompts (its
                                                                  ``gt_instances_collected`` path)
video_instance     a clip, object queries                         a clip, object queries
vos                a clip, first-frame masks of 3 objects,
                   streamed through the memory frame by frame
referring          an image, one sentence
=================  =============================================  ==================================

A call is the model's ``test_step`` (data preprocessor, then ``predict``) under
``torch.no_grad``, as ``tools/test.py`` runs it, on a fresh copy of the batch;
``--amp`` runs it under autocast (fp16 on CUDA, bf16 on CPU). After ``--warmup``
untimed calls, ``--iters`` calls are timed (on CUDA with
``torch.cuda.synchronize()`` before and after each). frames/s = frames of the
sample x timed calls / their seconds; ms/frame is its inverse. Defaults: 1 warm-up
+ 3 timed calls and 1 torch thread on CPU, 5 + 20 and torch's threads on CUDA.
"""
import argparse
import contextlib
import copy
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from seg.models.fastsam2 import TASKS
from seg.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
FASTSAM2 = 'FastSAM2-R18'
RAPSAM = 'RapSAM-R50'
#: Each model's config and the tasks it runs, in table order.
MODEL_CONFIGS = {FASTSAM2: REPO / 'configs' / '_base_' / 'models' / 'fastsam2_r18.py',
                 RAPSAM: REPO / 'configs' / 'rapsam' / 'rapsam_r50_12e_adaptor.py'}
MODEL_TASKS = {FASTSAM2: TASKS, RAPSAM: ('panoptic', 'interactive', 'video_instance')}
#: Tasks whose sample is a clip of ``--frames`` frames (the others: one image).
CLIP_TASKS = ('video_instance', 'vos')
#: Prompt objects of an interactive image, and objects given by first-frame masks in a VOS clip.
INTERACTIVE_OBJECTS, VOS_OBJECTS = 5, 3
#: The referring sentence (and the one the text tower encodes when timed alone).
SENTENCE = 'the woman on the left holding a red umbrella'
#: Default calls per task: few on CPU (a 512 px ResNet-50 call takes seconds there), more on CUDA.
CPU_ITERS, CPU_WARMUP, CUDA_ITERS, CUDA_WARMUP = 3, 1, 20, 5
#: Default torch threads on CPU: OpenMP threads on cores other processes share wait on each other (two
#: threads on two busy cores measured 3-4x slower than one); --threads N for a machine of one's own.
CPU_THREADS = 1
#: Embedding width of the stand-in text encoder: OpenCLIP convnext_large_d_320's.
STANDIN_TEXT_DIM = 768


def object_boxes(count: int, size: int) -> torch.Tensor:
    """(count, 4) xyxy boxes of side ``0.15 * size`` along the image's diagonal, inside the image."""
    side = 0.15 * size
    starts = torch.tensor([[0.05 + 0.18 * k, 0.08 + 0.16 * k] for k in range(count)]) * size
    return torch.cat([starts, starts + side], dim=1)


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(K, size, size) bool masks filling (K, 4) xyxy boxes."""
    masks = torch.zeros(len(boxes), size, size, dtype=torch.bool)
    for mask, (x1, y1, x2, y2) in zip(masks, boxes.round().long().tolist()):
        mask[y1:y2, x1:x2] = True
    return masks


def random_images(count: int, size: int, seed: int) -> torch.Tensor:
    """(count, 3, size, size) uint8 BGR images, as a data loader gives them."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8, generator=generator)


def frame_sample(size: int, name: str, **metainfo) -> DetDataSample:
    return DetDataSample(metainfo=dict(img_path=name, img_shape=(size, size), ori_shape=(size, size),
                                       scale_factor=(1.0, 1.0), **metainfo))


def clip_batch(size: int, num_frames: int, first_frame_prompts: Optional[InstanceData] = None) -> dict:
    """One clip of ``num_frames`` random frames; ``first_frame_prompts`` on its first frame if given."""
    frames = [frame_sample(size, f'clip/{t:05d}.jpg', frame_id=t, frame_name=f'{t:05d}', video_name='clip')
              for t in range(num_frames)]
    if first_frame_prompts is not None:
        frames[0].prompts = first_frame_prompts
    sample = TrackDataSample(video_data_samples=frames, metainfo=dict(video_name='clip'))
    return dict(inputs=[random_images(num_frames, size, seed=1)], data_samples=[sample])


def image_batch(size: int, **fields) -> dict:
    """One random image whose sample carries ``fields`` (e.g. ``prompts``)."""
    sample = frame_sample(size, 'image.jpg')
    for name, value in fields.items():
        setattr(sample, name, value)
    return dict(inputs=[random_images(1, size, seed=0)[0]], data_samples=[sample])


def make_batch(model_name: str, task: str, size: int, num_frames: int) -> dict:
    """A fresh batch of one sample of ``task`` for ``model_name`` (``num_frames`` frames if a clip task)."""
    boxes = object_boxes(INTERACTIVE_OBJECTS, size)
    if task == 'panoptic':
        return image_batch(size)
    if task == 'video_instance':
        return clip_batch(size, num_frames)
    if task == 'interactive' and model_name == RAPSAM:
        # RapSAM's prompts are boxes (a click is a 6x6 box), in its official field names.
        prompts = InstanceData(point_coords=boxes, pb_labels=torch.ones(len(boxes), dtype=torch.long))
        return image_batch(size, gt_instances_collected=prompts)
    if task == 'interactive':
        centres = ((boxes[:, :2] + boxes[:, 2:]) / 2)[:, None]
        prompts = InstanceData(points=centres, point_labels=torch.ones(len(boxes), 1, dtype=torch.long), boxes=boxes)
        return image_batch(size, prompts=prompts)
    if task == 'vos':
        masks = box_masks(object_boxes(VOS_OBJECTS, size), size)
        return clip_batch(size, num_frames, InstanceData(masks=masks))
    if task == 'referring':
        return image_batch(size, prompts=InstanceData(texts=[SENTENCE]))
    raise ValueError(f'unknown task {task!r}')


def build_model(model_name: str, text_checkpoint: Optional[Path], clip_model: Optional[str],
                device: torch.device) -> torch.nn.Module:
    """``model_name`` in eval mode on ``device``, random weights (seed 0), no file read but the CLIP tower's.

    ``text_checkpoint`` None puts the stand-in text encoder in FastSAM2.
    """
    model_cfg = copy.deepcopy(Config.fromfile(str(MODEL_CONFIGS[model_name])).model)
    model_cfg.backbone.init_cfg = None
    model_cfg.panoptic_head.class_embed_path = None
    if model_name == FASTSAM2:
        text_encoder = model_cfg.prompt_fusion.text_encoder
        if text_checkpoint is None:
            model_cfg.prompt_fusion.text_encoder = dict(type='ToyTextEncoder', embed_dim=STANDIN_TEXT_DIM)
        else:
            text_encoder.update(checkpoint=str(text_checkpoint), model_name=clip_model or text_encoder.model_name)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('seg'):
        model = MODELS.build(model_cfg)
    return model.to(device).eval()


def seconds_per_call(prepare: Callable[[], Any], run: Callable[[Any], None], args: argparse.Namespace) -> float:
    """Mean seconds of ``run(prepare())`` over ``--iters`` calls after ``--warmup`` untimed ones.

    ``prepare`` is not timed; ``run`` is, under ``torch.no_grad`` and ``--amp``'s autocast, with
    ``torch.cuda.synchronize()`` before and after on CUDA.
    """
    elapsed = 0.0
    for i in range(args.warmup + args.iters):
        data = prepare()
        with torch.no_grad(), autocast(args):
            if args.device.type == 'cuda':
                torch.cuda.synchronize(args.device)
            start = time.perf_counter()
            run(data)
            if args.device.type == 'cuda':
                torch.cuda.synchronize(args.device)
            if i >= args.warmup:
                elapsed += time.perf_counter() - start
    return elapsed / args.iters


def autocast(args: argparse.Namespace):
    """``--amp``'s autocast (fp16 on CUDA, bf16 on CPU), or a context that does nothing."""
    if not amp_dtype(args):
        return contextlib.nullcontext()
    return torch.autocast(args.device.type, dtype=amp_dtype(args))


def amp_dtype(args: argparse.Namespace) -> Optional[torch.dtype]:
    """The autocast dtype of ``--amp`` on ``--device``; None without ``--amp`` or where autocast is unavailable."""
    if not args.amp or not torch.amp.is_autocast_available(args.device.type):
        return None
    return torch.float16 if args.device.type == 'cuda' else torch.bfloat16


def amp_words(args: argparse.Namespace) -> str:
    dtype = amp_dtype(args)
    if dtype is not None:
        return f'{str(dtype).replace("torch.", "")} autocast'
    return f'off (no autocast on {args.device.type})' if args.amp else 'off'


def device_words(device: torch.device) -> str:
    if device.type == 'cuda':
        return f'{device} ({torch.cuda.get_device_name(device)})'
    return f'cpu ({torch.backends.cpu.get_cpu_capability()})'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=512, help='image height = width (pixels)')
    parser.add_argument('--frames', type=int, default=3,
                        help='frames of a clip (video_instance, vos; 3: RapSAMVideo\'s clip of a short video)')
    parser.add_argument('--iters', type=int, default=None,
                        help=f'timed calls per task (default: {CPU_ITERS} on CPU, {CUDA_ITERS} on CUDA)')
    parser.add_argument('--warmup', type=int, default=None, help='untimed calls per task before the timed ones '
                        f'(default: {CPU_WARMUP} on CPU, {CUDA_WARMUP} on CUDA)')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--amp', action='store_true', help='autocast: fp16 on CUDA, bf16 on CPU')
    parser.add_argument('--threads', type=int, default=None,
                        help=f"torch threads (default: {CPU_THREADS} on CPU, torch's own on CUDA)")
    parser.add_argument('--tasks', nargs='+', choices=TASKS, default=list(TASKS), help='tasks to run')
    parser.add_argument('--clip-model', default=None,
                        help="OpenCLIP model of FastSAM2's text tower (default: the config's)")
    parser.add_argument('--clip-checkpoint', type=Path, default=None,
                        help="its local weights (default: the config's); missing: a stand-in encoder")
    args = parser.parse_args(argv)
    args.device = torch.device(args.device)
    if args.device.type == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    on_cpu = args.device.type == 'cpu'
    if args.iters is None:
        args.iters = CPU_ITERS if on_cpu else CUDA_ITERS
    if args.warmup is None:
        args.warmup = CPU_WARMUP if on_cpu else CUDA_WARMUP
    if args.threads is None and on_cpu:
        args.threads = CPU_THREADS
    if args.size < 32 or args.frames < 1 or args.iters < 1 or args.warmup < 0:
        parser.error('need --size >= 32, --frames >= 1, --iters >= 1, --warmup >= 0')
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    text_encoder = Config.fromfile(str(MODEL_CONFIGS[FASTSAM2])).model.prompt_fusion.text_encoder
    clip_model = args.clip_model or text_encoder.model_name
    clip_checkpoint = args.clip_checkpoint or Path(text_encoder.checkpoint)
    real_text = clip_checkpoint.is_file()
    print_log(f'{FASTSAM2} vs {RAPSAM}: {args.size}x{args.size} px, batch 1, clips of {args.frames} frames, '
              f'{args.warmup} warm-up + {args.iters} timed calls per task', logger='current')
    print_log(f'device {device_words(args.device)}, torch threads {torch.get_num_threads()}, '
              f'amp {amp_words(args)}; random weights (speed does not depend on them)', logger='current')
    if real_text:
        print_log(f'text: OpenCLIP {clip_model} text tower from {clip_checkpoint} (its sentence cache makes the '
                  'timed referring calls skip it; timed alone below)', logger='current')
    else:
        print_log(f'text: ToyTextEncoder(embed_dim={STANDIN_TEXT_DIM}) stands in for the OpenCLIP {clip_model} '
                  f'text tower ({clip_checkpoint} not found); the text tower is not timed', logger='current')

    rows = []
    text_seconds = None
    for model_name in (FASTSAM2, RAPSAM):
        tasks = [task for task in MODEL_TASKS[model_name] if task in args.tasks]
        if not tasks:
            continue
        model = build_model(model_name, clip_checkpoint if real_text else None, clip_model, args.device)
        for task in tasks:
            seconds = seconds_per_call(lambda: make_batch(model_name, task, args.size, args.frames),
                                       model.test_step, args)
            frames = args.frames if task in CLIP_TASKS else 1
            rows.append((task, model_name, frames / seconds))
        if model_name == FASTSAM2 and real_text:
            encoder = model.prompt_fusion.text_encoder

            def uncached(encoder=encoder):
                encoder.clear_cache()
                return [SENTENCE]

            text_seconds = seconds_per_call(uncached, encoder, args)
        del model

    print_log(f'{"task":15s} {"model":13s} {"frames/s":>9s} {"ms/frame":>9s}', logger='current')
    for task in TASKS:
        for task_name, model_name, fps in rows:
            if task_name == task:
                print_log(f'{task:15s} {model_name:13s} {fps:9.2f} {1000 / fps:9.1f}', logger='current')
    if text_seconds is not None:
        print_log(f'OpenCLIP {clip_model} text tower alone, one sentence, not cached: {1 / text_seconds:.2f} '
                  f'sentences/s, {1000 * text_seconds:.1f} ms/sentence', logger='current')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
