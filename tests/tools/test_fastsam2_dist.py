"""FastSAM2's toy config on 2 CPU processes (dist_train.sh, gloo) with DDP's find_unused_parameters=False.

Each process routes its own batch, so the two processes decode different tasks in the
same step; the zero-weighted term over every parameter keeps DDP's gradient buckets
complete, and no per-task loss runs a collective, so nothing waits for a peer that
has no sample of that task.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/fastsam2/fastsam2_r18_toy.py'
TASKS = {'panoptic', 'interactive', 'vos', 'referring'}
METRICS = ('coco_panoptic/PQ', 'prompt/mIoU', 'davis/J&F-Mean', 'refcoco/cIoU')
ITERS = 6
ITER_LINE = re.compile(r'Iter\(train\) \[\s*(\d+)/\d+\].*')
LOSS = re.compile(r'(\w+)\.(?:d\d+\.)?loss_\w+: (\S+)')


@pytest.fixture(scope='module', autouse=True)
def toy_data():
    from seg.toy_data import make_all
    make_all(REPO / 'data' / 'toy', layouts=('coco_panoptic', 'davis', 'refcoco'))


def train_lines(log: Path):
    """``(iteration, {task: [loss values]}, grad_norm)`` of each logged training iteration of one rank."""
    lines = []
    for match in ITER_LINE.finditer(log.read_text()):
        tasks = {}
        for task, value in LOSS.findall(match.group(0)):
            tasks.setdefault(task, []).append(float(value))
        lines.append((int(match.group(1)), tasks, re.search(r'grad_norm: (\S+)', match.group(0)).group(1)))
    return lines


def test_two_cpu_processes_train_mixed_tasks_without_find_unused_parameters(tmp_path):
    # log_level=DEBUG: every rank writes its own log file (mmengine), so rank 1's losses can be read too.
    # One thread per process, torchrun's own default (the conftest's 2 threads per process oversubscribe 2 cores
    # and made this run several times slower).
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(29700 + os.getpid() % 1000), PYTHONUNBUFFERED='1',
               OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path), '--cfg-options',
                           f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
                           f'default_hooks.checkpoint.interval={ITERS}', 'default_hooks.logger.interval=1',
                           'log_processor.window_size=1', 'log_level=DEBUG'],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console[-3000:]
    assert 'distributed: True' in console
    rank_logs = sorted(tmp_path.glob('*/*_rank[01].log'))
    assert [log.stem[-5:] for log in rank_logs] == ['rank0', 'rank1'], rank_logs
    assert 'find_unused_parameters=False' in rank_logs[0].read_text()

    ranks = [train_lines(log) for log in rank_logs]
    for lines in ranks:
        assert [iteration for iteration, _, _ in lines] == list(range(1, ITERS + 1))
        first, last = lines[0][1], lines[-1][1]
        # mmengine repeats a task's last losses in iterations without it, so only the first line is one batch
        assert len(first) >= 2, f'the first batch of a rank holds one task: {sorted(first)}'
        assert set(last) == TASKS, sorted(last)
        assert all(v == v and abs(v) != float('inf') for tasks in (first, last) for vs in tasks.values() for v in vs)
    assert set(ranks[0][0][1]) != set(ranks[1][0][1]), 'the two ranks should hold different tasks in one step'
    # the gradients were all-reduced: both ranks clip the same gradient norm
    assert [g for _, _, g in ranks[0]] == [g for _, _, g in ranks[1]]

    assert (tmp_path / f'iter_{ITERS}.pth').is_file()
    for key in METRICS:
        assert f'{key}: ' in console, key
