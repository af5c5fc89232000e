"""Training-log viewer: parsing mmengine's JSON and text logs, summaries, follow mode, plots, CLI."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from seg.utils.log_analysis import (find_log, follow, last_iterations, load_log, loss_family, loss_keys, plot_curves,
                                    summarise)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis', 'view_training_log.py')
ITERS_PER_EPOCH = 5
EPOCHS = 2


def train_values(i):
    """Scalars of global iteration ``i`` (1-based)."""
    return {
        'lr': 1e-4 * i,
        'loss': 3.0 - 0.25 * i,
        'loss_cls': 1.0 + 0.5 * (i % 2),
        'time': 0.5,
        'data_time': 0.125,
        'memory': 100 + i,
    }


def json_lines():
    lines = []
    for epoch in range(1, EPOCHS + 1):
        for j in range(1, ITERS_PER_EPOCH + 1):
            i = (epoch - 1) * ITERS_PER_EPOCH + j
            lines.append(json.dumps(dict(train_values(i), epoch=epoch, iter=i, step=i)))
        lines.append(json.dumps({'coco_panoptic/PQ': 10.0 * epoch, 'data_time': 0.01, 'time': 0.2, 'step': epoch}))
    return lines


def text_train_line(epoch, j):
    v = train_values((epoch - 1) * ITERS_PER_EPOCH + j)
    return (f'2024/01/01 12:00:{j:02d} - mmengine - INFO - Epoch(train)  [{epoch}][{j}/{ITERS_PER_EPOCH}]  '
            f'lr: {v["lr"]:.4e}  eta: 0:00:{10 - j:02d}  time: {v["time"]:.4f}  data_time: {v["data_time"]:.4f}  '
            f'memory: {v["memory"]}  loss: {v["loss"]:.4f}  loss_cls: {v["loss_cls"]:.4f}')


def text_lines():
    lines = ['2024/01/01 11:59:59 - mmengine - INFO - Config:', "model = dict(type='Mask2Former')"]
    for epoch in range(1, EPOCHS + 1):
        lines += [text_train_line(epoch, j) for j in range(1, ITERS_PER_EPOCH + 1)]
        lines.append('2024/01/01 12:01:00 - mmengine - INFO - Saving checkpoint at 1 epochs')
        lines.append(f'2024/01/01 12:01:01 - mmengine - INFO - Epoch(val)  [{epoch}][1/2]    eta: 0:00:01  '
                     'time: 0.2000  data_time: 0.0100  memory: 50')
        lines.append(f'2024/01/01 12:01:02 - mmengine - INFO - Epoch(val) [{epoch}][2/2]    '
                     f'coco_panoptic/PQ: {10.0 * epoch:.4f}  data_time: 0.0100  time: 0.2000')
    return lines


def write(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


@pytest.fixture
def work_dir(tmp_path):
    """A work dir with an older and a newer run, each with a JSON and a text log."""
    for stamp in ('20240101_120000', '20240102_090000'):
        write(str(tmp_path / stamp / 'vis_data' / f'{stamp}.json'), json_lines())
        write(str(tmp_path / stamp / f'{stamp}.log'), text_lines())
    return tmp_path


def check_train_records(records):
    train = [r for r in records if r.mode == 'train']
    assert [r.iter for r in train] == list(range(1, EPOCHS * ITERS_PER_EPOCH + 1))
    assert [r.epoch for r in train] == [1] * ITERS_PER_EPOCH + [2] * ITERS_PER_EPOCH
    for record in train:
        expected = train_values(record.iter)
        for key in ('lr', 'loss', 'loss_cls', 'time', 'data_time', 'memory'):
            assert record.values[key] == pytest.approx(expected[key]), key
    val = [r for r in records if r.mode == 'val']
    assert [(r.iter, r.epoch, r.values['coco_panoptic/PQ']) for r in val] == [(5, 1, 10.0), (10, 2, 20.0)]


def test_parse_json_log(work_dir):
    records = load_log(str(work_dir / '20240102_090000' / 'vis_data' / '20240102_090000.json'))
    check_train_records(records)
    assert 'step' not in records[0].values
    assert loss_keys(records) == ['loss', 'loss_cls']


def test_parse_text_log(work_dir):
    records = load_log(str(work_dir / '20240102_090000' / '20240102_090000.log'))
    check_train_records(records)  # the val progress line (with eta) is skipped
    assert len(records) == EPOCHS * (ITERS_PER_EPOCH + 1)


def test_parse_iteration_based_text_log(tmp_path):
    lines = [
        '2024/01/01 12:00:00 - mmengine - INFO - Iter(train) [  10/1000]  lr: 1.0000e-04  eta: 1:00:00  '
        'time: 0.5000  data_time: 0.1000  memory: 10  loss: 1.2300  loss_cls: 0.5000  d0.loss_mask: 0.2500',
        '2024/01/01 12:00:05 - mmengine - INFO - Iter(train) [  20/1000]  lr: 1.0000e-04  eta: 0:59:00  '
        'time: 0.5000  data_time: 0.1000  memory: 10  loss: 1.0000  loss_cls: 0.4000  d0.loss_mask: 0.2000',
        '2024/01/01 12:00:09 - mmengine - INFO - Iter(val) [2/2]    coco/bbox_mAP: 0.1230  data_time: 0.01  time: 0.2',
    ]
    records = load_log(write(str(tmp_path / 'run.log'), lines))
    assert [(r.mode, r.iter, r.epoch) for r in records] == [('train', 10, None), ('train', 20, None), ('val', 20, None)]
    assert records[0].values['d0.loss_mask'] == 0.25
    assert records[2].values == {'coco/bbox_mAP': 0.123, 'data_time': 0.01, 'time': 0.2}
    assert loss_keys(records) == ['loss', 'loss_cls', 'd0.loss_mask']


def test_summary_and_last_iterations(work_dir):
    records = load_log(find_log(str(work_dir)))
    summary = summarise(records)
    assert list(summary) == ['loss', 'loss_cls']
    losses = [3.0 - 0.25 * i for i in range(1, 11)]
    assert summary['loss'].mean == pytest.approx(np.mean(losses))
    assert (summary['loss'].min, summary['loss'].max, summary['loss'].last) == (0.5, 2.75, 0.5)
    assert summary['loss'].count == 10
    assert (summary['loss_cls'].min, summary['loss_cls'].max, summary['loss_cls'].mean) == (1.0, 1.5, 1.25)
    assert list(summarise(records, ['lr', 'missing'])) == ['lr']
    assert [r.iter for r in last_iterations(records, 3)] == [8, 9, 10]
    assert len(last_iterations(records, 100)) == 10 and last_iterations(records, 0) == []


def test_find_log_passes_over_a_newer_test_run(work_dir):
    test_run = write(str(work_dir / '20240103_000000' / '20240103_000000.log'),
                     ['2024/01/03 00:00:05 - mmengine - INFO - Epoch(test) [2/2]    coco_panoptic/PQ: 40.0000'])
    assert find_log(str(work_dir)) == str(work_dir / '20240102_090000' / 'vis_data' / '20240102_090000.json')
    assert find_log(str(work_dir / '20240103_000000')) == test_run


def test_find_log(work_dir):
    newest = str(work_dir / '20240102_090000' / 'vis_data' / '20240102_090000.json')
    (work_dir / 'best_checkpoints').mkdir()
    assert find_log(str(work_dir)) == newest
    assert find_log(str(work_dir / '20240102_090000')) == newest
    assert find_log(str(work_dir / '20240102_090000' / 'vis_data')) == newest
    assert find_log(newest) == newest
    os.remove(newest)
    assert find_log(str(work_dir)) == str(work_dir / '20240102_090000' / '20240102_090000.log')
    with pytest.raises(FileNotFoundError):
        find_log(str(work_dir / 'best_checkpoints'))


@pytest.mark.parametrize('kind', ['json', 'text'])
def test_follow_picks_up_appended_lines(tmp_path, kind):
    path = str(tmp_path / ('run.json' if kind == 'json' else 'run.log'))
    lines = json_lines() if kind == 'json' else [text_train_line(1, j) for j in range(1, 6)]
    write(path, lines[:2])
    tail = lines[2:5]

    def append_slowly():
        for line in tail:
            time.sleep(0.05)
            with open(path, 'a') as f:  # a line written in two pieces must still be read whole
                f.write(line[:10])
                f.flush()
                time.sleep(0.02)
                f.write(line[10:] + '\n')

    writer = threading.Thread(target=append_slowly)
    deadline = time.monotonic() + 5
    seen = []
    writer.start()
    for record in follow(path, poll_interval=0.01, stop=lambda: time.monotonic() > deadline, from_start=False):
        seen.append(record)
        if len(seen) == len(tail):
            break
    writer.join()
    assert [r.iter for r in seen] == [3, 4, 5]
    assert seen[0].values['loss'] == pytest.approx(train_values(3)['loss'])


def test_follow_stops_when_told(tmp_path):
    path = write(str(tmp_path / 'run.json'), json_lines()[:3])
    calls = []
    records = list(follow(path, poll_interval=0.01, stop=lambda: calls.append(1) or len(calls) > 2))
    assert [r.iter for r in records] == [1, 2, 3]


def test_plot(work_dir, tmp_path):
    records = load_log(find_log(str(work_dir)))
    out = str(tmp_path / 'plots' / 'loss.png')
    assert plot_curves(records, out, size=(6, 4), dpi=50) == out
    image = np.asarray(Image.open(out).convert('RGB'))
    assert image.shape == (200, 300, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10
    with pytest.raises(ValueError, match='Nothing to plot'):
        plot_curves(records, out, keys=['missing'])


def test_each_loss_family_gets_one_panel():
    assert [loss_family(k) for k in ('loss', 'd0.loss_cls', 'd8.loss_cls', 'loss_cls', 's1.dec.loss_dice')] == \
        ['loss', 'loss_cls', 'loss_cls', 'loss_cls', 'loss_dice']


def test_cli_summary_last_and_plot(work_dir, tmp_path):
    out = str(tmp_path / 'curves.png')
    result = subprocess.run([sys.executable, TOOL, str(work_dir), '-s', '-n', '3', '--plot', out, '--keys', 'loss',
                             'loss_cls'], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith('log: '))
    assert header.endswith('20240102_090000.json (12 records)')
    loss_row = next(line.split() for line in lines if line.split()[:1] == ['loss'])
    assert loss_row == ['loss', '1.6250', '0.5000', '2.7500', '0.5000', '10']
    iter_rows = [line.split() for line in lines if line.split()[:1] in (['8'], ['9'], ['10'])]
    assert [row[:2] for row in iter_rows] == [['8', '2'], ['9', '2'], ['10', '2']]
    assert Image.open(out).size == (800, 500)


def test_cli_missing_log(tmp_path, capsys):
    assert load_tool().main([str(tmp_path / 'nowhere')]) == 1
    assert 'No log file or work dir' in capsys.readouterr().err


def load_tool():
    spec = importlib.util.spec_from_file_location('view_training_log', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_follow(tmp_path, capsys):
    """``-w`` in process (a subprocess would spend seconds importing torch)."""
    path = write(str(tmp_path / 'run.log'), [text_train_line(1, 1)])

    def append_later():
        time.sleep(0.3)
        with open(path, 'a') as f:
            f.write(text_train_line(1, 2) + '\n' + text_train_line(1, 3) + '\n')

    writer = threading.Thread(target=append_later)
    writer.start()
    assert load_tool().main([path, '-w', '--interval', '0.02', '--timeout', '0.8']) == 0
    writer.join()
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f'log: {path} (1 records)'
    followed = [line for line in out.splitlines() if line.startswith('train')]
    assert [line.split()[:3] for line in followed] == [['train', 'iter', '2'], ['train', 'iter', '3']]
    assert 'loss: 2.5000' in followed[0]
