"""Export a trained E2FGVI generator: ``python tools/misc/export_inpainter.py CKPT --out OUT.pth``.

OUT.pth is a plain state_dict with the official names, like the released
``E2FGVI-CVPR22.pth`` / ``E2FGVI-HQ-CVPR22.pth``: the official ``test.py`` /
``evaluate.py`` and ``seg.apis.inpaint`` load it, and so does a training
config's ``load_from`` (fine-tuning starts a new discriminator).
"""
import argparse

from mmengine.logging import print_log


def parse_args():
    parser = argparse.ArgumentParser(description='Export the generator of a VideoInpaintingGAN checkpoint')
    parser.add_argument('checkpoint', help='training checkpoint, e.g. work_dirs/e2fgvi_hq_500k/iter_500000.pth')
    parser.add_argument('--out', required=True, help='generator state_dict to write (.pth)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load the checkpoint with full pickle (only for files you trust)')
    return parser.parse_args()


def main():
    args = parse_args()
    from seg.apis.export_inpainter import export_inpainter
    out = export_inpainter(args.checkpoint, args.out, trust=args.trust_checkpoint)
    print_log(f'generator of {args.checkpoint} written to {out}', logger='current')


if __name__ == '__main__':
    main()
