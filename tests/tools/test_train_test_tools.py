"""End-to-end: the toy Mask2Former config through tools/train.py, tools/test.py and dist_train.sh on CPU."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/toy/mask2former_r18_toy_panoptic.py'
PQ_KEYS = ('coco_panoptic/PQ', 'coco_panoptic/SQ', 'coco_panoptic/RQ', 'coco_panoptic/PQ_th', 'coco_panoptic/PQ_st')


@pytest.fixture(scope='module', autouse=True)
def toy_coco():
    from seg.toy_data import make_all
    make_all(REPO / 'data' / 'toy', layouts=('coco_panoptic', ))


def run_tool(*args, timeout=600, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def scalars(work_dir: Path):
    """Train records of every run under work_dir, in run order."""
    records = []
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if 'loss' in r]


def short(iters, interval, *extra):
    return ['--cfg-options', f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={interval}', 'default_hooks.logger.interval=1',
            'log_processor.window_size=1', *extra]


def test_train_then_test_reports_pq(tmp_path):
    work_dir = tmp_path / 'run'
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, *short(4, 2))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # a short header, not mmengine's environment / config / hook dumps (those go to the log file), and no warnings
    console = proc.stdout + proc.stderr
    assert 'distributed: False' in console and 'Config:' not in console and 'Hooks will be executed' not in console
    assert 'Warning' not in console and 'WARNING' not in console
    assert 'Config:' in next(work_dir.glob('*/*.log')).read_text()
    ckpt = Path((work_dir / 'last_checkpoint').read_text().strip())
    assert ckpt.name == 'iter_4.pth' and ckpt.is_file()

    out = tmp_path / 'preds.pkl'
    proc = run_tool('tools/test.py', CONFIG, ckpt, '--work-dir', work_dir, '--out', out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    assert all(key in text for key in PQ_KEYS)
    assert out.stat().st_size > 0


def test_syncbn_config_runs_single_process_on_cpu(tmp_path):
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path,
                    *short(2, 2, 'model.backbone.norm_cfg.type=SyncBN', 'train_cfg.val_interval=100'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / 'iter_2.pth').is_file()


def test_kill_9_then_resume_continues(tmp_path):
    work_dir = tmp_path / 'run'
    cmd = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
           *short(12, 3, 'train_cfg.val_interval=100')]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not (work_dir / 'iter_6.pth').exists():
        assert proc.poll() is None, 'training ended before it could be killed'
        assert time.time() < deadline, 'no checkpoint within 300 s'
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = max(r['iter'] for r in scalars(work_dir))
    assert killed_at < 12
    last = Path((work_dir / 'last_checkpoint').read_text().strip())
    resumed_from = int(last.stem.split('_')[1])
    half_written = work_dir / f'.iter_9.pth.{proc.pid}.0a1b2c3d.part'  # as a kill during a save leaves it
    half_written.write_bytes(b'half a checkpoint')

    proc = run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, '--resume',
                    *short(12, 3, 'train_cfg.val_interval=100'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'resumed epoch: 0, iter: {resumed_from}' in proc.stdout + proc.stderr
    assert not half_written.exists() and f'removed {half_written}' in proc.stdout + proc.stderr
    runs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert len(runs) == 2
    second = [json.loads(line) for line in runs[1].read_text().splitlines() if 'loss' in line]
    # the curve continues: the resumed run logs exactly the iterations after the checkpoint
    assert [r['iter'] for r in second] == list(range(resumed_from + 1, 13))
    assert (work_dir / 'iter_12.pth').is_file()


def test_dist_train_two_cpu_processes(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(29500 + os.getpid() % 1000))
    proc = subprocess.run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path),
                           *short(3, 3, 'train_cfg.val_interval=3')],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    log = proc.stdout + proc.stderr
    set_up = next(tmp_path.glob('*/*.log')).read_text()  # the console shows a header; the log file keeps it all
    assert 'distributed: True' in log and "'backend': 'gloo'" in set_up and 'Config:' not in log
    assert (tmp_path / 'iter_3.pth').is_file()
    assert 'coco_panoptic/PQ' in log


def test_missing_config_is_a_clear_error(tmp_path):
    proc = run_tool('tools/train.py', 'configs/toy/nope.py', '--work-dir', tmp_path)
    assert proc.returncode != 0 and 'config configs/toy/nope.py not found' in proc.stderr


@pytest.mark.slow
def test_toy_training_beats_untrained_model(tmp_path):
    from seg.apis import load_config
    from seg.apis.runner import adapt_to_machine, build_runner
    cfg = adapt_to_machine(load_config(str(REPO / CONFIG), work_dir=str(tmp_path / 'untrained')), 'none')
    untrained = build_runner(cfg).test()

    work_dir = tmp_path / 'run'
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = (work_dir / 'last_checkpoint').read_text().strip()
    proc = run_tool('tools/test.py', CONFIG, ckpt, '--work-dir', work_dir)
    assert proc.returncode == 0
    line = [ln for ln in (proc.stdout + proc.stderr).splitlines() if 'coco_panoptic/PQ:' in ln][-1]
    trained_pq = float(line.split('coco_panoptic/PQ:')[1].split()[0])
    assert trained_pq > untrained['coco_panoptic/PQ'] + 20
    records = scalars(work_dir)
    # logged every 10 iterations: the last 30 iterations' loss is under half the first 30's
    assert sum(r['loss'] for r in records[-3:]) < 0.5 * sum(r['loss'] for r in records[:3])
