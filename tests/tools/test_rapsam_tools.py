"""The toy RapSAM configs through dist_train.sh (2 CPU processes) and tools/test.py (PQ and prompt metrics)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRAIN = 'configs/rap_sam/rap_sam_r18_toy.py'
PROMPT_EVAL = 'configs/rap_sam/eval_rap_sam_prompt_toy.py'


@pytest.fixture(scope='module', autouse=True)
def toy_coco():
    from seg.datasets.toy_data import make_all
    make_all(REPO / 'data' / 'toy', layouts=('coco_panoptic', ))


@pytest.fixture(scope='module')
def dist_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('rapsam_dist')
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(29600 + os.getpid() % 1000), PYTHONUNBUFFERED='1')
    proc = subprocess.run(['bash', 'tools/dist_train.sh', TRAIN, '2', '--work-dir', str(work_dir), '--cfg-options',
                           'train_cfg.max_iters=6', 'train_cfg.val_interval=6', 'default_hooks.checkpoint.interval=6',
                           'default_hooks.logger.interval=1', 'log_processor.window_size=1'],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    return proc, work_dir


def test_dist_train_two_cpu_processes(dist_run):
    proc, work_dir = dist_run
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log and "'backend': 'gloo'" in log
    assert (work_dir / 'iter_6.pth').is_file()
    assert 'coco_panoptic/PQ' in log and 'loss_iou' in log


def test_prompt_evaluation_of_the_checkpoint(dist_run, tmp_path):
    proc, work_dir = dist_run
    assert proc.returncode == 0
    test = subprocess.run([sys.executable, 'tools/test.py', PROMPT_EVAL, str(work_dir / 'iter_6.pth'), '--work-dir',
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=600)
    log = test.stdout + test.stderr
    assert test.returncode == 0, log[-3000:]
    for key in ('prompt/mIoU', 'prompt/NoC@0.5', 'prompt/NoC@0.9'):
        assert key in log
