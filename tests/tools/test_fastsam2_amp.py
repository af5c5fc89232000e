"""``tools/train.py --amp`` on a CPU machine: the FastSAM2 toy config trains under bfloat16 autocast."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seg.engine.optimizers import cpu_bf16_autocast_available

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/fastsam2/fastsam2_r18_toy.py'
TASKS = ('panoptic', 'interactive', 'vos', 'referring')


@pytest.fixture(scope='module', autouse=True)
def toy_data():
    from seg.toy_data import make_all
    make_all(REPO / 'data' / 'toy', layouts=('coco_panoptic', 'davis', 'refcoco'))


@pytest.mark.skipif(torch.cuda.is_available(), reason='with CUDA, --amp trains with AmpOptimWrapper (float16)')
@pytest.mark.skipif(not cpu_bf16_autocast_available(), reason=f'torch {torch.__version__} has no CPU bf16 autocast')
def test_amp_trains_fastsam2_in_bfloat16_on_cpu(tmp_path):
    # Seed 1: the two first batches hold all four tasks between them. No validation, no checkpoint: time.
    # One thread: the conftest's two, on two cores shared with other work, made each iteration ~20 s, not ~1 s.
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', CONFIG, '--amp', '--work-dir', str(tmp_path), '--cfg-options',
         'train_cfg.max_iters=2', 'randomness.seed=1', 'default_hooks.logger.interval=1', 'log_processor.window_size=1',
         'default_hooks.checkpoint=None', 'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None'],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "type='BF16AutocastOptimWrapper'" in next(tmp_path.glob('*/*.log')).read_text()
    records = [json.loads(line) for path in tmp_path.glob('*/vis_data/scalars.json')
               for line in path.read_text().splitlines() if '"loss"' in line]
    assert [r['iter'] for r in records] == [1, 2]
    losses = {key: value for record in records for key, value in record.items() if 'loss' in key}
    assert all(math.isfinite(value) for value in losses.values()), losses
    assert all(f'{task}.loss_mask' in losses for task in TASKS), sorted(losses)
