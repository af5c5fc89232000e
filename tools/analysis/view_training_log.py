"""View an mmengine training log: loss summary, last iterations, live follow, curves.

Examples::

    python tools/analysis/view_training_log.py work_dirs/my_exp -s
    python tools/analysis/view_training_log.py work_dirs/my_exp -n 20 --keys loss loss_cls
    python tools/analysis/view_training_log.py work_dirs/my_exp/20240101_120000/20240101_120000.log -w
    python tools/analysis/view_training_log.py work_dirs/my_exp --plot loss.png

LOG is a JSON-lines scalar log (``vis_data/<timestamp>.json``), a text log
(``<timestamp>.log``), or a work dir / run dir (the newest run's JSON log is
used).  With no action flag, ``-s`` is implied.
"""
import argparse
import sys
import time
from typing import List, Optional

from seg.utils.log_analysis import (find_log, follow, format_record, last_iterations, load_log, plot_curves,
                                    records_table, summarise, summary_table)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='View an mmengine training log.')
    parser.add_argument('log', help='log file (.json scalars or .log text), run dir or work dir')
    parser.add_argument('-s', '--summary', action='store_true', help='table of mean/min/max/last per loss')
    parser.add_argument('-n', '--last', type=int, metavar='N', help='print the last N logged training iterations')
    parser.add_argument('-w', '--follow', action='store_true', help='print new records as the log grows (Ctrl-C ends)')
    parser.add_argument('--plot', metavar='PNG', help='write curves of the keys against the iteration to PNG')
    parser.add_argument('--keys', nargs='+', help='scalars to show (default: all loss keys)')
    parser.add_argument('--interval', type=float, default=1.0, help='seconds between checks with -w')
    parser.add_argument(
        '--timeout', type=float, help='with -w, stop after this many seconds without a new record (default: never)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        log_file = find_log(args.log)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    records = load_log(log_file)
    print(f'log: {log_file} ({len(records)} records)')
    show_summary = args.summary or not (args.last or args.follow or args.plot)
    if show_summary:
        summaries = summarise(records, args.keys)
        print(summary_table(summaries) if summaries else 'no training scalars to summarise')
    if args.last:
        print(records_table(last_iterations(records, args.last), args.keys))
    if args.plot:
        try:
            print(f'plot: {plot_curves(records, args.plot, args.keys, title=log_file)}')
        except ValueError as error:
            print(error, file=sys.stderr)
            return 1
    if args.follow:
        last_seen = time.monotonic()

        def idle_too_long() -> bool:
            return args.timeout is not None and time.monotonic() - last_seen > args.timeout

        try:
            # Re-read from the start and skip what was loaded, so no line appended meanwhile is lost.
            for index, record in enumerate(follow(log_file, poll_interval=args.interval, stop=idle_too_long)):
                if index < len(records):
                    continue
                last_seen = time.monotonic()
                print(format_record(record, args.keys), flush=True)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
