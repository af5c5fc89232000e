#!/usr/bin/env python
"""Write the class embeddings of RapSAM's open-vocabulary classifier with a local OpenCLIP text tower.

Examples::

    python tools/gen_cls.py CONFIG --clip-model convnext_large_d_320 --clip-checkpoint CLIP_WEIGHTS.bin
    python tools/gen_cls.py --classes-from my_classes.txt --clip-model convnext_large_d_320 \\
        --clip-checkpoint CLIP_WEIGHTS.bin --out checkpoints/class_embeddings/my_vocab.pth

The class names come from the config's dataset metainfo, or from ``--classes-from``
(a .txt file, one class per line, or a comma list) to swap the vocabulary at test
time.  The output is a (num_classes, num_synonyms, D) float32 tensor of unit
vectors, by default ``checkpoints/class_embeddings/<clip-model>_<dataset>.pth``;
see ``seg/models/utils/class_embedding.py``.  Nothing is downloaded.
"""
import argparse
import sys

from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', nargs='?', help='config whose <split>_dataloader.dataset names the classes')
    p.add_argument('--classes-from', metavar='FILE_OR_LIST',
                   help='class names instead of a config: a .txt file, one class per line (commas in a line '
                   'separate synonyms), or a comma list ("cat/kitty,dog": "/" separates synonyms)')
    p.add_argument('--clip-model', required=True,
                   help='OpenCLIP model name, e.g. convnext_large_d_320, or a model config .json')
    p.add_argument('--clip-checkpoint', required=True, help='local weights file of that OpenCLIP model')
    p.add_argument('--out', help='output .pth (default: checkpoints/class_embeddings/<clip-model>_<dataset>.pth)')
    p.add_argument('--split', choices=('train', 'val', 'test'), default='train',
                   help='which dataloader of the config holds the dataset (default: train)')
    p.add_argument('--device', help='where the text tower runs (default: cuda if available, else cpu)')
    p.add_argument('--batch-size', type=int, default=256, help='prompts per forward pass (default: 256)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys: k=v k.sub=v')
    args = p.parse_args(argv)
    if (args.config is None) == (args.classes_from is None):
        p.error('give exactly one of CONFIG or --classes-from')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from mmengine.logging import print_log

    from seg.apis.vocabulary import class_names_from_config
    from seg.models.utils.class_embedding import (build_class_embeddings, build_openclip_text_encoder,
                                                  default_embedding_path, read_class_names, save_class_embeddings)

    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        if args.classes_from is not None:
            names, vocabulary = read_class_names(args.classes_from)
        else:
            names, vocabulary = class_names_from_config(args.config, args.split, args.cfg_options)
        out = args.out or default_embedding_path(args.clip_model, vocabulary)
        print_log(f'{len(names)} classes ({vocabulary}): {names}', logger='current')
        encoder = build_openclip_text_encoder(args.clip_model, args.clip_checkpoint, device)
        print_log(f'loaded {args.clip_checkpoint} into OpenCLIP {args.clip_model}; text tower on {device}',
                  logger='current')
        embeddings = build_class_embeddings(names, encoder, batch_size=args.batch_size, progress=True)
        out = save_class_embeddings(embeddings, out)
    except (ImportError, FileNotFoundError, ValueError) as err:
        sys.exit(f'gen_cls.py: error: {err}')
    print_log(f'wrote class embeddings {tuple(embeddings.shape)} (classes, synonyms, dim) to {out}', logger='current')
    return 0


if __name__ == '__main__':
    sys.exit(main())
