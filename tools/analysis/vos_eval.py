"""Score VOS predictions (palette PNGs) against a DAVIS-layout dataset: J&F as the DAVIS 2017 toolkit computes it.

Examples::

    python tools/analysis/vos_eval.py --davis-root data/DAVIS --pred work_dirs/xmem/Annotations
    python tools/analysis/vos_eval.py --davis-root data/toy/davis --pred PRED --set val -v --json scores.json
    python tools/analysis/vos_eval.py --davis-root data/DAVIS2016 --pred PRED --task binary   # single object (TMO)

PRED holds one folder per sequence with one PNG per annotated frame, named like
the annotations. Prints J&F-Mean and the six sub-measures (``-v``: per
sequence and object too); ``--json`` writes everything atomically.
"""
import argparse
import sys
from typing import List, Optional

from seg.fileio.atomic import write_json_atomic
from seg.evaluation.vos_folders import GLOBAL_MEASURES, TASKS, VOSEvaluationError, evaluate_davis_folder


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='J&F of VOS predictions on a DAVIS-layout dataset.')
    parser.add_argument('--davis-root', required=True, help='DAVIS root (ImageSets/2017, Annotations/480p)')
    parser.add_argument('--pred', required=True, help='predictions: <pred>/<sequence>/<frame>.png')
    parser.add_argument('--set', default='val', help='ImageSets/2017/<set>.txt lists the sequences (default val)')
    parser.add_argument('--task', default='semi-supervised', choices=TASKS,
                        help='semi-supervised (per object id) or binary (single salient object)')
    parser.add_argument('--json', metavar='OUT', help='write global, per-sequence and per-object numbers here')
    parser.add_argument('-v', '--verbose', action='store_true', help='also print per-sequence and per-object rows')
    return parser.parse_args(argv)


def format_table(results: dict, verbose: bool) -> str:
    """The global row (and per-sequence / per-object rows) as fixed-width text."""
    lines = [' '.join(f'{m:>9}' for m in GLOBAL_MEASURES),
             ' '.join(f'{results["global"][m]:9.4f}' for m in GLOBAL_MEASURES)]
    if verbose:
        lines += ['', f'{"sequence":<24}{"J&F-Mean":>10}{"J-Mean":>10}{"F-Mean":>10}']
        lines += [f'{seq:<24}{v["J&F-Mean"]:10.4f}{v["J-Mean"]:10.4f}{v["F-Mean"]:10.4f}'
                  for seq, v in results['per_sequence'].items()]
        lines += ['', f'{"object":<24}{"J-Mean":>10}{"F-Mean":>10}']
        lines += [f'{obj:<24}{v["J-Mean"]:10.4f}{v["F-Mean"]:10.4f}' for obj, v in results['per_object'].items()]
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        results = evaluate_davis_folder(args.davis_root, args.pred, subset=args.set, task=args.task)
    except VOSEvaluationError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(format_table(results, args.verbose))
    if args.json:
        write_json_atomic(args.json, results)
        print(f'scores: {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
