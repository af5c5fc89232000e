"""Checkpoints: trust is an argument of one load, hostile files are named, files of another model are refused."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.runner.checkpoint import _load_checkpoint

from seg.fileio.checkpoint import (CheckpointMismatchError, UntrustedCheckpointError, load_local_checkpoint,
                                   load_weights, trusted)

REPO = Path(__file__).resolve().parents[2]
CONFIG = 'configs/toy/mask2former_r18_toy_panoptic.py'


class Hostile:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.fixture
def hostile(tmp_path):
    marker = tmp_path / 'ran'
    path = tmp_path / 'hostile.pth'
    torch.save({'state_dict': {}, 'payload': Hostile(marker)}, path)
    return path, marker


def test_hostile_pickle_is_named_and_never_runs(hostile):
    path, marker = hostile
    with pytest.raises(UntrustedCheckpointError, match=r'needs posix\.system to unpickle') as info:
        load_local_checkpoint(str(path))
    assert '--trust-checkpoint' in str(info.value) and 'truncated' not in str(info.value)
    with pytest.raises(UntrustedCheckpointError):
        _load_checkpoint(str(path))  # mmengine's loader goes through ours
    assert not marker.exists()


def test_trust_is_an_argument_of_one_load(hostile):
    path, marker = hostile
    load_local_checkpoint(str(path), trust=True)
    assert marker.exists()
    marker.unlink()
    _load_checkpoint(trusted(path))  # the path form mmengine's load_from / resume take
    assert marker.exists()
    marker.unlink()
    with pytest.raises(UntrustedCheckpointError):
        load_local_checkpoint(str(path))
    assert not marker.exists()


def test_trust_given_to_the_runner_does_not_leak(hostile, tmp_path):
    from seg.apis import test, train
    path, marker = hostile
    environ = dict(os.environ)
    for run in (lambda: test(str(tmp_path / 'no_config.py'), str(path), trust_checkpoint=True),
                lambda: train(str(tmp_path / 'no_config.py'), trust_checkpoint=True)):
        with pytest.raises(FileNotFoundError):
            run()
    assert dict(os.environ) == environ
    with pytest.raises(UntrustedCheckpointError):
        _load_checkpoint(str(path))
    assert not marker.exists()


def test_no_torch_load_outside_the_safe_loader():
    stray = []
    for folder in ('seg', 'tools', 'ext', 'demo'):
        for path in (REPO / folder).rglob('*.py'):
            if path == REPO / 'seg' / 'fileio' / 'checkpoint.py':
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r'\btorch\.load\(', line) and not line.lstrip().startswith(('#', '"', "'")):
                    stray.append(f'{path.relative_to(REPO)}:{number}')
    assert stray == []


class Small(nn.Module):

    def __init__(self, width: int = 4):
        super().__init__()
        self.body = nn.Linear(3, width)
        self.head = nn.Linear(width, 2)


def test_load_weights_lists_what_does_not_fit():
    model = Small()
    reference = {k: v.clone() for k, v in Small().state_dict().items()}
    load_weights(model, {'state_dict': reference}, 'ok.pth')
    assert torch.equal(model.head.weight, reference['head.weight'])

    no_head = {k: v for k, v in reference.items() if not k.startswith('head.')}
    with pytest.raises(CheckpointMismatchError, match=r'2 model weights missing \(head\.weight, head\.bias\)'):
        load_weights(model, no_head, 'no_head.pth')
    extra = dict(reference, **{f'extra.{i}': torch.zeros(1) for i in range(5)})
    with pytest.raises(CheckpointMismatchError, match=r'5 unexpected weights \(extra\.0, extra\.1, extra\.2, \.\.\. '
                       r'\(5 in all\)\)'):
        load_weights(model, extra, 'extra.pth')
    with pytest.raises(CheckpointMismatchError, match=r'with other shapes \(body\.weight \[4, 3\] in the model, '
                       r'\[8, 3\] in the file'):
        load_weights(model, Small(width=8).state_dict(), 'wide.pth', hint='Pass --partial-load')


# ----------------------------------------------------------------------------------------------
# Through the tools (toy Mask2Former, trained for 2 iterations once)
# ----------------------------------------------------------------------------------------------
def run_tool(*args):
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONUNBUFFERED='1'))


@pytest.fixture(scope='module')
def toy_checkpoint(tmp_path_factory):
    from seg.toy_data import make_all
    make_all(REPO / 'data' / 'toy', layouts=('coco_panoptic', ))
    work_dir = tmp_path_factory.mktemp('toy_run')
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options', 'train_cfg.max_iters=2',
                    'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2')
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work_dir / 'iter_2.pth'


def one_line_error(proc, *needles):
    """The tool refused with status 2 and one line on stderr naming every needle, no traceback."""
    lines = [line for line in proc.stderr.splitlines() if 'error:' in line]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert all(needle in lines[0] for needle in needles), lines[0]
    return lines[0]


def test_test_tool_refuses_a_checkpoint_without_the_head(toy_checkpoint, tmp_path):
    ckpt = torch.load(toy_checkpoint, weights_only=False)
    ckpt['state_dict'] = {k: v for k, v in ckpt['state_dict'].items() if not k.startswith('panoptic_head.')}
    headless = tmp_path / 'headless.pth'
    torch.save(ckpt, headless)
    line = one_line_error(run_tool('tools/test.py', CONFIG, headless, '--work-dir', tmp_path / 'w'),
                          'does not fit', 'model weights missing', 'panoptic_head.', '--partial-load')
    assert re.search(r'\d+ model weights missing', line)
    proc = run_tool('tools/test.py', CONFIG, headless, '--work-dir', tmp_path / 'w', '--partial-load')
    assert proc.returncode == 0 and 'coco_panoptic/PQ' in proc.stdout + proc.stderr, proc.stderr[-3000:]


def test_resume_from_a_checkpoint_of_other_shapes_is_refused(toy_checkpoint, tmp_path):
    ckpt = torch.load(toy_checkpoint, weights_only=False)
    key = next(k for k in ckpt['state_dict'] if k.endswith('conv1.weight'))
    ckpt['state_dict'][key] = torch.zeros(1, 1, 1, 1)
    bad = tmp_path / 'other_shapes.pth'
    torch.save(ckpt, bad)
    one_line_error(run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path / 'w', '--resume', bad),
                   'with other shapes', key)
    assert not (tmp_path / 'w' / 'iter_1.pth').exists()


def test_resume_with_nothing_to_resume_is_an_error(tmp_path):
    one_line_error(run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path / 'empty', '--resume'),
                   'nothing to resume', str(tmp_path / 'empty'))


@pytest.mark.parametrize('option, needles', [
    ('model.backbone.type=ResNett', ("type='ResNett'", 'ResNet')),
    ('model.backbone.dept=18', ("'dept'", 'depth')),
])
def test_config_typos_name_the_nearest_valid_name(tmp_path, option, needles):
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path, '--cfg-options', option)
    one_line_error(proc, *needles)
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path, '--cfg-options', option, '--debug')
    assert proc.returncode != 0 and 'Traceback' in proc.stderr
