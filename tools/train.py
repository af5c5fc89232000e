"""Train a model: ``python tools/train.py CONFIG [--work-dir D] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]``."""
import argparse
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description='Train a FastSAM2 model')
    parser.add_argument('config', help='config file, e.g. configs/toy/mask2former_r18_toy_panoptic.py')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in work_dir if CKPT is omitted')
    parser.add_argument('--amp', action='store_true', help='mixed precision: float16 on CUDA, bfloat16 autocast on CPU')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load the resumed / load_from checkpoint with full pickle (only for files you trust)')
    parser.add_argument('--partial-load', action='store_true',
                        help='let load_from / the resumed checkpoint miss or add weights (on purpose, e.g. fine-tuning '
                        'from another model)')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys: k=v k.sub=v')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from seg.apis import train
    from seg.apis.runner import leave_worker
    from seg.apis.tool_errors import run_tool
    status = run_tool('train.py', lambda: train(
        args.config, work_dir=args.work_dir, resume=args.resume, amp=args.amp, cfg_options=args.cfg_options,
        launcher=args.launcher, trust_checkpoint=args.trust_checkpoint, partial_load=args.partial_load), args.debug)
    return leave_worker(status, args.launcher)


if __name__ == '__main__':
    sys.exit(main())
