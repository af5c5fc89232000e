"""Read mmengine training logs: parse, summarise, follow and plot them.

Two formats are understood, both written by mmengine's ``LoggerHook``:

* the JSON-lines scalar log ``<work_dir>/<timestamp>/vis_data/<timestamp>.json``
  (or ``scalars.json``): one dict per line.  Training lines carry ``'lr'``,
  the losses, ``'time'``, ``'data_time'``, ``'memory'``, ``'iter'`` (global,
  1-based), ``'epoch'`` (epoch-based runs) and ``'step'``; validation lines
  carry the metrics, ``'time'``, ``'data_time'`` and ``'step'`` (the epoch, or
  the iteration for iteration-based runs).
* the text log ``<work_dir>/<timestamp>/<timestamp>.log``, with lines like
  ``Epoch(train)  [1][ 10/100]  lr: 1.0000e-04  eta: 0:01:00  time: 0.5000
  data_time: 0.1000  memory: 10  loss: 1.2300  loss_cls: 0.5000`` or
  ``Iter(train) [ 10/1000]  ...``.  An epoch-based line's global iteration is
  ``(epoch - 1) * iterations_per_epoch + iteration``, which assumes the epoch
  length is constant.  Per-iteration validation/test progress lines (those
  with ``eta``) are skipped; the end-of-validation metric line is kept.

Both give :class:`LogRecord` s.  A validation record takes the iteration and
epoch of the last training record before it.
"""
import glob
import json
import math
import os
import os.path as osp
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

#: Keys of a JSON training line that are bookkeeping, not scalars to report.
_JSON_POSITION_KEYS = ('iter', 'epoch', 'step')
#: Header of a text log line: mode, optional epoch, iteration and its total.
_TEXT_HEADER = re.compile(r'(Epoch|Iter)\((train|val|test)\)\s*(?:\[(\d+)\])?\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]')
#: Name of a run folder: mmengine's timestamp.
_RUN_DIR = re.compile(r'^\d{8}_\d{6}$')
#: One ``key: value`` item of a text log line.
_TEXT_ITEM = re.compile(r'([A-Za-z_][\w./\-]*): (\S+)')


@dataclass
class LogRecord:
    """One logged line.

    Attributes:
        mode: ``'train'``, ``'val'`` or ``'test'``.
        iter: Global training iteration (1-based) of a training record; for
            validation/test, the last training iteration before it (None if
            there was none).
        epoch: Epoch (1-based), None for iteration-based runs.
        values: Logged scalars: ``'lr'``, losses, ``'time'`` and
            ``'data_time'`` in seconds, ``'memory'`` in MiB, metrics.
    """
    mode: str
    iter: Optional[int]
    epoch: Optional[int]
    values: Dict[str, float] = field(default_factory=dict)


@dataclass
class KeySummary:
    """Statistics of one scalar over training records.

    Attributes:
        mean, min, max: Over all records with the key (NaN propagates).
        last: The value in the latest such record.
        count: Number of such records.
    """
    mean: float
    min: float
    max: float
    last: float
    count: int


def is_loss_key(key: str) -> bool:
    """Whether a scalar key is a loss (``loss``, ``loss_cls``, ``d0.loss_mask``...)."""
    return 'loss' in key


class JsonLogParser:
    """Turns lines of mmengine's JSON-lines scalar log into records, in order."""

    def __init__(self) -> None:
        self._last_iter: Optional[int] = None
        self._last_epoch: Optional[int] = None

    def parse_line(self, line: str) -> Optional[LogRecord]:
        """The record of one line, or None for a blank or non-JSON line."""
        line = line.strip()
        if not line.startswith('{'):
            return None
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return None
        values = {k: float(v) for k, v in entry.items()
                  if k not in _JSON_POSITION_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)}
        if 'iter' in entry:  # validation lines have no 'iter'
            self._last_iter = int(entry['iter'])
            self._last_epoch = int(entry['epoch']) if 'epoch' in entry else None
            return LogRecord('train', self._last_iter, self._last_epoch, values)
        return LogRecord('val', self._last_iter, self._last_epoch, values)


class TextLogParser:
    """Turns lines of mmengine's text log into records, in order."""

    def __init__(self) -> None:
        self._last_iter: Optional[int] = None
        self._last_epoch: Optional[int] = None

    def parse_line(self, line: str) -> Optional[LogRecord]:
        """The record of one line, or None for lines that are not scalar logs."""
        header = _TEXT_HEADER.search(line)
        if header is None:
            return None
        unit, mode, epoch, iteration, total = header.groups()
        rest = line[header.end():]
        if mode != 'train' and re.search(r'\beta: ', rest):
            return None
        values = {}
        for key, value in _TEXT_ITEM.findall(rest):
            try:
                values[key] = float(value)
            except ValueError:
                continue  # eta and other non-numbers
        if mode == 'train':
            if unit == 'Epoch' and epoch is not None:
                self._last_epoch = int(epoch)
                self._last_iter = (int(epoch) - 1) * int(total) + int(iteration)
            else:
                self._last_epoch = None
                self._last_iter = int(iteration)
            return LogRecord('train', self._last_iter, self._last_epoch, values)
        return LogRecord(mode, self._last_iter, int(epoch) if epoch is not None else self._last_epoch, values)


LogParser = Union[JsonLogParser, TextLogParser]


def make_parser(path: str) -> LogParser:
    """The parser for a log file: JSON lines for ``.json``, text otherwise.

    A file with another extension whose first non-blank character is ``{`` is
    read as JSON lines too.
    """
    if path.endswith('.json'):
        return JsonLogParser()
    if not path.endswith('.log') and osp.isfile(path):
        with open(path, encoding='utf-8', errors='replace') as f:
            for line in f:
                if line.strip():
                    return JsonLogParser() if line.lstrip().startswith('{') else TextLogParser()
    return TextLogParser()


def parse_lines(lines: Iterable[str], parser: LogParser) -> List[LogRecord]:
    """The records of ``lines``, in order."""
    records = []
    for line in lines:
        record = parser.parse_line(line)
        if record is not None:
            records.append(record)
    return records


def load_log(path: str) -> List[LogRecord]:
    """All records of a JSON-lines or text log file, in order."""
    with open(path, encoding='utf-8', errors='replace') as f:
        return parse_lines(f, make_parser(path))


def find_log(path: str) -> str:
    """The log file to read for ``path``.

    Args:
        path: A log file, a run folder (``<work_dir>/<timestamp>``), its
            ``vis_data`` folder, or a work dir holding run folders.

    Returns:
        ``path`` itself if it is a file; else, from the newest run (run
        folders named like mmengine's ``YYYYMMDD_HHMMSS`` timestamps, greatest
        first, then other folders), ``vis_data/<timestamp>.json``, then any
        ``vis_data/*.json`` (e.g. ``scalars.json``), then ``<timestamp>.log``,
        then any ``*.log``.  Runs whose log holds no training record (e.g.
        a ``tools/test.py`` run in the same work dir) are passed over while a
        log with training records exists.

    Raises:
        FileNotFoundError: Nothing to read there.
    """
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'No log file or work dir at {path}')
    path = osp.normpath(path)
    if osp.basename(path) == 'vis_data':
        candidates = [osp.join(path, osp.basename(osp.dirname(path)) + '.json')]
        candidates += sorted(glob.glob(osp.join(path, '*.json')))
        run_dirs = []
    else:
        candidates = []
        subdirs = [d for d in glob.glob(osp.join(path, '*')) if osp.isdir(d)]
        subdirs.sort(key=lambda d: (_RUN_DIR.match(osp.basename(d)) is not None, osp.basename(d)), reverse=True)
        run_dirs = [path] + subdirs
    for run_dir in run_dirs:
        name = osp.basename(run_dir)
        candidates.append(osp.join(run_dir, 'vis_data', f'{name}.json'))
        candidates += sorted(glob.glob(osp.join(run_dir, 'vis_data', '*.json')))
        candidates += [osp.join(run_dir, f'{name}.log')] + sorted(glob.glob(osp.join(run_dir, '*.log')))
    existing = [c for c in candidates if osp.isfile(c)]
    for candidate in existing:
        if train_records(load_log(candidate)):
            return candidate
    if existing:
        return existing[0]
    raise FileNotFoundError(f'No mmengine log (vis_data/*.json or *.log) under {path}')


def train_records(records: Iterable[LogRecord]) -> List[LogRecord]:
    """The training records, in order."""
    return [r for r in records if r.mode == 'train']


def loss_keys(records: Iterable[LogRecord]) -> List[str]:
    """Loss keys of the training records, in order of first appearance."""
    keys: Dict[str, None] = {}
    for record in train_records(records):
        for key in record.values:
            if is_loss_key(key):
                keys[key] = None
    return list(keys)


def summarise(records: Iterable[LogRecord], keys: Optional[Sequence[str]] = None) -> Dict[str, KeySummary]:
    """Mean, min, max and last of scalars over the training records.

    Args:
        records: Parsed log records; only training ones are used.
        keys: Scalars to summarise; default all loss keys.

    Returns:
        Key -> summary, in the order of ``keys``; keys never logged are
        left out.
    """
    records = train_records(records)
    keys = loss_keys(records) if keys is None else keys
    summaries = {}
    for key in keys:
        values = [r.values[key] for r in records if key in r.values]
        if values:
            summaries[key] = KeySummary(
                mean=math.fsum(values) / len(values), min=min(values), max=max(values), last=values[-1],
                count=len(values))
    return summaries


def last_iterations(records: Iterable[LogRecord], n: int) -> List[LogRecord]:
    """The last ``n`` training records (fewer if there are fewer)."""
    records = train_records(records)
    return records[-n:] if n > 0 else []


def follow(path: str,
           poll_interval: float = 1.0,
           stop: Optional[Callable[[], bool]] = None,
           from_start: bool = True,
           parser: Optional[LogParser] = None) -> Iterator[LogRecord]:
    """Yield records as lines are appended to a log file, like ``tail -f``.

    Only complete lines (ending in a newline) are parsed.  A file that does
    not exist yet is waited for.

    Args:
        path: The log file.
        poll_interval: Seconds to sleep when there is nothing new.
        stop: Called while idle; following ends when it returns True.  None
            follows forever.
        from_start: Also yield the records already in the file.  Otherwise
            they are only parsed (to keep iteration counting right).
        parser: Parser to use; default :func:`make_parser`.

    Yields:
        Each new record, in file order.
    """
    while not osp.isfile(path):
        if stop is not None and stop():
            return
        time.sleep(poll_interval)
    parser = parser if parser is not None else make_parser(path)
    with open(path, encoding='utf-8', errors='replace') as f:
        pending = ''
        if not from_start:
            complete, _, pending = f.read().rpartition('\n')
            parse_lines(complete.splitlines(), parser)
        while True:
            chunk = f.readline()
            if chunk:
                pending += chunk
                if pending.endswith('\n'):
                    record = parser.parse_line(pending)
                    pending = ''
                    if record is not None:
                        yield record
                continue
            if stop is not None and stop():
                return
            time.sleep(poll_interval)


def loss_family(key: str) -> str:
    """The family a loss key belongs to: its last dotted part (``d3.loss_cls`` → ``loss_cls``)."""
    return key.rsplit('.', 1)[-1]


def plot_curves(records: Iterable[LogRecord],
                out_file: str,
                keys: Optional[Sequence[str]] = None,
                title: Optional[str] = None,
                size: Sequence[float] = (8.0, 5.0),
                dpi: int = 100) -> str:
    """Plot training scalars against the global iteration into a PNG, one panel per loss family.

    Keys of one family (``loss_cls``, ``d0.loss_cls``, ``d1.loss_cls``...: the same
    loss at each decoder layer) share a panel, drawn in shades of one colour map with
    the undotted key (the final layer) in black, so a run's 13 curves read as a few
    panels instead of one tangle.

    Args:
        records: Parsed log records; only training ones are plotted.
        out_file: PNG path; its folder is created.
        keys: The keys to plot; default all loss keys.
        title: Figure title.
        size: Figure (width, height) in inches; the PNG is
            ``size * dpi`` pixels.
        dpi: Dots per inch.

    Returns:
        ``out_file``.

    Raises:
        ValueError: None of ``keys`` has a value to plot.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = train_records(records)
    keys = loss_keys(records) if keys is None else keys
    series = {}
    for key in keys:
        points = [(r.iter, r.values[key]) for r in records if key in r.values and r.iter is not None]
        if points:
            series[key] = tuple(zip(*points))
    if not series:
        raise ValueError(f'Nothing to plot: no training record has any of {list(keys)}')
    families: Dict[str, List[str]] = {}
    for key in series:
        families.setdefault(loss_family(key), []).append(key)
    cols = min(3, len(families))
    rows = math.ceil(len(families) / cols)
    figure = Figure(figsize=tuple(size), dpi=dpi)
    FigureCanvasAgg(figure)
    for index, (family, members) in enumerate(families.items()):
        axes = figure.add_subplot(rows, cols, index + 1)
        shades = colormaps['viridis'](np.linspace(0.15, 0.85, max(1, len(members))))
        for key, shade in zip(members, shades):
            final = key == family
            axes.plot(*series[key], label=key, color='black' if final else shade, linewidth=1.4 if final else 0.8)
        axes.set_title(family, fontsize='small')
        axes.set_xlabel('iteration', fontsize='x-small')
        axes.tick_params(labelsize='x-small')
        axes.grid(True, alpha=0.3)
        if len(members) > 1:
            axes.legend(fontsize='xx-small', ncol=2)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    figure.savefig(out_file, dpi=dpi)
    return out_file


def format_value(value: float) -> str:
    """A scalar for tables: integers as such, scientific below 1e-3 (learning rates), else 4 decimals."""
    if math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if value != 0 and abs(value) < 1e-3:
        return f'{value:.3e}'
    return f'{value:.4f}'


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return '  '.join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return '\n'.join([line(headers), '  '.join('-' * w for w in widths)] + [line(row) for row in rows])


def summary_table(summaries: Dict[str, KeySummary]) -> str:
    """The table of :func:`summarise`'s result: key, mean, min, max, last, count."""
    rows = [[key, format_value(s.mean), format_value(s.min), format_value(s.max), format_value(s.last), str(s.count)]
            for key, s in summaries.items()]
    return format_table(['key', 'mean', 'min', 'max', 'last', 'count'], rows)


def records_table(records: Sequence[LogRecord], keys: Optional[Sequence[str]] = None) -> str:
    """A table of training records: iter, epoch, lr, then ``keys`` (default losses)."""
    keys = loss_keys(records) if keys is None else keys
    columns = ['iter', 'epoch'] + [k for k in ('lr', ) if k not in keys] + list(keys)
    rows = []
    for record in records:
        row = [str(record.iter) if record.iter is not None else '-',
               str(record.epoch) if record.epoch is not None else '-']
        row += [format_value(record.values[k]) if k in record.values else '-' for k in columns[2:]]
        rows.append(row)
    return format_table(columns, rows)


def format_record(record: LogRecord, keys: Optional[Sequence[str]] = None) -> str:
    """One line for a record: position, then ``keys`` (default: lr and losses, or all for validation)."""
    if keys is None:
        keys = [k for k in record.values if k == 'lr' or is_loss_key(k)] if record.mode == 'train' else list(
            record.values)
    position = [f'{record.mode}', f'iter {record.iter if record.iter is not None else "-"}']
    if record.epoch is not None:
        position.append(f'epoch {record.epoch}')
    items = [f'{k}: {format_value(record.values[k])}' for k in keys if k in record.values]
    return '  '.join(position + items)
