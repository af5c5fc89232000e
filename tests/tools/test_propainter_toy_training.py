"""End to end on CPU: both ProPainter toy configs through tools/train.py.

Stage 1 (train_flowcomp_toy.py) lowers the end-point error of the completed flows
on the toy test holes; stage 2 (train_propainter_toy.py, with the stage-1
checkpoint as its frozen flow completion net) raises the toy PSNR. Each run starts
from the weights the untrained model is validated with, so before and after
compare the same initialisation.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
STAGE_ONE = 'configs/propainter/train_flowcomp_toy.py'
STAGE_TWO = 'configs/propainter/train_propainter_toy.py'
EPE = 'flow/EPE_hole'
PSNR = 'inpaint/PSNR'
#: Training iterations of the two toy configs.
ITERS = {STAGE_ONE: 100, STAGE_TWO: 200}
#: Measured once (2 CPU cores shared with other jobs, OMP_NUM_THREADS=2): stage 1 EPE_hole 2.68 -> 2.36 px
#: in about 20 min; the bound asks for about half that drop. Stage 2 (200 iterations, one run): PSNR
#: 24.26 -> 24.33 dB, a small rise, so its bound is only "rises".
MIN_EPE_DROP = 0.15  # px
MIN_PSNR_GAIN = 0.0  # dB


def data_options(data_root: str):
    return [f'{loader}.dataset.data_root={data_root}' for loader in ('train_dataloader', 'val_dataloader',
                                                                      'test_dataloader')]


def untrained_metric_and_weights(config: str, options: list, work_dir: Path, weights: Path, key: str) -> float:
    """Validate the freshly built model and save its weights, so training starts from exactly them."""
    from seg.apis.runner import adapt_to_machine, build_runner, load_config
    cfg = adapt_to_machine(load_config(config, cfg_options=dict(o.split('=', 1) for o in options),
                                       work_dir=str(work_dir)), 'none')
    runner = build_runner(cfg)
    metrics = runner.val()
    torch.save(dict(state_dict=runner.model.state_dict()), weights)
    return metrics[key]


def train(config: str, options: list, work_dir: Path, weights: Path, key: str):
    proc = subprocess.run([sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir), '--cfg-options',
                           f'load_from={weights}', *options],
                          cwd=REPO, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, PYTHONUNBUFFERED='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for path in sorted(work_dir.glob('*/vis_data/scalars.json'))
               for line in path.read_text().splitlines() if line.strip()]
    train_records = [r for r in records if 'loss' in r and key not in r]
    (val, ) = [r for r in records if key in r]
    assert len(train_records) == ITERS[config] and all(v == v for r in train_records for v in r.values())
    assert (work_dir / f'iter_{ITERS[config]}.pth').is_file()
    return val[key]


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory) -> str:
    from seg.apis.dataset_preparation import compute_flows
    from seg.toy_data import make_propainter
    root = make_propainter(tmp_path_factory.mktemp('toy') / 'propainter')
    compute_flows(root / 'JPEGImages_432_240', root / 'Flows_flo')
    return f'{root}/'


@pytest.fixture(scope='module')
def stage_one(toy_root, tmp_path_factory):
    """(EPE before, EPE after, checkpoint) of the stage-1 toy run."""
    tmp = tmp_path_factory.mktemp('stage_one')
    options = data_options(toy_root)
    before = untrained_metric_and_weights(STAGE_ONE, options, tmp / 'untrained', tmp / 'untrained.pth', EPE)
    after = train(STAGE_ONE, options, tmp / 'train', tmp / 'untrained.pth', EPE)
    return before, after, tmp / 'train' / f'iter_{ITERS[STAGE_ONE]}.pth'


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_flow_completion_toy_training_lowers_the_hole_epe(stage_one):
    before, after, _ = stage_one
    assert after < before - MIN_EPE_DROP, (before, after)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_propainter_toy_training_raises_psnr(toy_root, stage_one, tmp_path):
    options = data_options(toy_root) + [f'model.flow_completion_checkpoint={stage_one[2]}']
    before = untrained_metric_and_weights(STAGE_TWO, options, tmp_path / 'untrained', tmp_path / 'untrained.pth',
                                          PSNR)
    after = train(STAGE_TWO, options, tmp_path / 'train', tmp_path / 'untrained.pth', PSNR)
    assert after > before + MIN_PSNR_GAIN, (before, after)
