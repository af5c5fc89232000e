"""Score VOS predictions (palette PNGs) against a DAVIS-layout dataset: J&F as the DAVIS 2017 toolkit computes it.

Examples::

    python tools/analysis/vos_eval.py --davis-root data/DAVIS --pred work_dirs/xmem/Annotations
    python tools/analysis/vos_eval.py --davis-root data/toy/davis --pred PRED --set val -v --json scores.json
    python tools/analysis/vos_eval.py --davis-root data/DAVIS2016 --pred PRED --task binary   # single object (TMO)

PRED holds one folder per sequence with one PNG per annotated frame, named like
the annotations. Prints J&F-Mean and the six sub-measures (``-v``: per
sequence and object too); ``--json`` writes everything atomically. Objects that
first appear after frame 0 are not scored (the semi-supervised task tracks the
first frame's objects); one ``note:`` line on stderr names them. Bad input exits
with status 2 and one ``vos_eval.py: error: ...`` line (``--debug``: the traceback).
"""
import argparse
import sys
from typing import Dict, List, Optional

from seg.apis.tool_errors import run_tool
from seg.evaluation.vos_folders import GLOBAL_MEASURES, TASKS, evaluate_davis_folder
from seg.fileio.atomic import sigterm_exits, write_json_atomic

#: Sequences named in the note on objects that are not scored; the rest are counted.
NOTE_SEQUENCES = 5


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='J&F of VOS predictions on a DAVIS-layout dataset.')
    parser.add_argument('--davis-root', required=True, help='DAVIS root (ImageSets/2017, Annotations/480p)')
    parser.add_argument('--pred', required=True, help='predictions: <pred>/<sequence>/<frame>.png')
    parser.add_argument('--set', default='val', help='ImageSets/2017/<set>.txt lists the sequences (default val)')
    parser.add_argument('--task', default='semi-supervised', choices=TASKS,
                        help='semi-supervised (per object id) or binary (single salient object)')
    parser.add_argument('--json', metavar='OUT', help='write global, per-sequence and per-object numbers here')
    parser.add_argument('-v', '--verbose', action='store_true', help='also print per-sequence and per-object rows')
    parser.add_argument('--debug', action='store_true', help='show the full traceback of an error')
    return parser.parse_args(argv)


def not_scored_note(not_scored: Dict[str, Dict[str, int]]) -> str:
    """One line naming the objects that first appear after frame 0, and why they are not scored."""
    items = [f'{seq} object{"s" if len(late) > 1 else ""} {", ".join(late)} (from frame '
             f'{", ".join(str(t) for t in late.values())})' for seq, late in not_scored.items()]
    more = f' and {len(items) - NOTE_SEQUENCES} more sequences' if len(items) > NOTE_SEQUENCES else ''
    return ('objects that first appear after frame 0 are not scored (semi-supervised task: objects are those of '
            'the first frame\'s annotation, as in the DAVIS 2017 toolkit): ' + '; '.join(items[:NOTE_SEQUENCES]) +
            more)


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

    def work() -> None:
        results = evaluate_davis_folder(args.davis_root, args.pred, subset=args.set, task=args.task)
        if results['not_scored']:
            print(f'vos_eval.py: note: {not_scored_note(results["not_scored"])}', file=sys.stderr)
        print(format_table(results, args.verbose))
        if args.json:
            write_json_atomic(args.json, results)
            print(f'scores: {args.json}')

    with sigterm_exits():
        return run_tool('vos_eval.py', work, args.debug)


if __name__ == '__main__':
    sys.exit(main())
