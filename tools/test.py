"""Evaluate a checkpoint: ``python tools/test.py CONFIG CKPT [--out R.pkl] [--show-dir D] [--cfg-options ...]``."""
import argparse
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description='Test a FastSAM2 model')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs go (default work_dirs/<config name>)')
    parser.add_argument('--out', help='dump raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='draw predictions into work_dir/<timestamp>/<show-dir>')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load the checkpoint with full pickle (only for files you trust)')
    parser.add_argument('--partial-load', action='store_true',
                        help='evaluate even if the checkpoint does not fully fit the model (only what fits)')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys: k=v k.sub=v')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from seg.apis import test
    from seg.apis.runner import leave_worker
    from seg.apis.tool_errors import run_tool
    status = run_tool('test.py', lambda: test(
        args.config, args.checkpoint, work_dir=args.work_dir, out=args.out, show_dir=args.show_dir,
        cfg_options=args.cfg_options, launcher=args.launcher, trust_checkpoint=args.trust_checkpoint,
        partial_load=args.partial_load), args.debug)
    return leave_worker(status, args.launcher)


if __name__ == '__main__':
    sys.exit(main())
