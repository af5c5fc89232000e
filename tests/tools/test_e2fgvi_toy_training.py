"""End to end on CPU: configs/e2fgvi/e2fgvi_toy.py through tools/train.py lowers the loss and raises toy PSNR."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/e2fgvi/e2fgvi_toy.py'
PSNR = 'inpaint/PSNR'
#: Iterations averaged at each end of the run: two passes over the 4 toy training videos, whose clips
#: are fixed (dataset seed), so both ends see the same clips.
LOSS_WINDOW = 8
MAX_ITERS = 200


def data_root_options(data_root: str):
    return [f'{loader}.dataset.data_root={data_root}' for loader in ('train_dataloader', 'val_dataloader',
                                                                      'test_dataloader')]


def untrained_psnr_and_weights(data_root: str, work_dir: Path, weights: Path) -> float:
    """Validate the freshly built model and save its weights, so training starts from exactly them."""
    from seg.apis.runner import adapt_to_machine, build_runner, load_config
    options = dict(option.split('=', 1) for option in data_root_options(data_root))
    cfg = adapt_to_machine(load_config(CONFIG, cfg_options=options, work_dir=str(work_dir)), 'none')
    runner = build_runner(cfg)
    metrics = runner.val()
    torch.save(dict(state_dict=runner.model.state_dict()), weights)
    return metrics[PSNR]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_toy_training_lowers_the_loss_and_raises_psnr(tmp_path):
    from seg.toy_data import make_e2fgvi
    data_root = f'{make_e2fgvi(tmp_path / "e2fgvi")}/'
    weights = tmp_path / 'untrained.pth'
    before = untrained_psnr_and_weights(data_root, tmp_path / 'untrained', weights)

    work_dir = tmp_path / 'train'
    proc = subprocess.run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work_dir), '--cfg-options',
                           f'load_from={weights}', *data_root_options(data_root)],
                          cwd=REPO, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, PYTHONUNBUFFERED='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for path in sorted(work_dir.glob('*/vis_data/scalars.json'))
               for line in path.read_text().splitlines() if line.strip()]
    train = [r for r in records if 'loss_hole' in r]
    (val, ) = [r for r in records if PSNR in r]
    assert len(train) == MAX_ITERS and all(r[k] == r[k] for r in train for k in r)
    reconstruction = [r['loss_hole'] + r['loss_valid'] for r in train]
    first, last = reconstruction[:LOSS_WINDOW], reconstruction[-LOSS_WINDOW:]
    assert sum(last) / LOSS_WINDOW < sum(first) / LOSS_WINDOW, reconstruction
    assert val[PSNR] > before, (before, val[PSNR])
    assert (work_dir / f'iter_{MAX_ITERS}.pth').is_file()
