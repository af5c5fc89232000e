import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint
from torch.utils.data import Dataset

from seg.fileio.atomic import atomic_write_bytes
from seg.fileio.checkpoint import CorruptCheckpointError, UntrustedCheckpointError, trusted


class TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, mode='tensor'):
        out = self.linear(torch.stack(x) if isinstance(x, list) else x)
        if mode == 'loss':
            return {'loss': ((out - 1) ** 2).mean()}
        return out


class TinyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.full((2, ), float(i)))


def make_runner(work_dir, max_epochs, resume=False):
    return Runner(
        model=TinyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=TinyData(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=True),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        resume=resume, default_scope='seg')


def test_mmengine_checkpoint_loads_safely_and_resumes(tmp_path):
    make_runner(tmp_path, 2).train()
    ckpt = tmp_path / 'epoch_2.pth'
    # The raw file holds HistoryBuffer and numpy objects: plain safe loading needs our allow-list.
    loaded = torch.load(ckpt, weights_only=True)
    assert 'message_hub' in loaded['meta'] or 'message_hub' in loaded
    assert any(isinstance(v, np.ndarray) or hasattr(v, '_log_history')
               for v in loaded['message_hub']['log_scalars'].values())

    runner = make_runner(tmp_path, 3, resume=True)
    runner.train()
    assert runner.epoch == 3
    assert runner.iter == 12
    # lr was decayed at epoch 1 and the scheduler state came back from the checkpoint
    assert runner.optim_wrapper.get_lr()['lr'][0] == pytest.approx(0.001)


class Foreign:

    def __init__(self):
        self.payload = 1


def test_foreign_checkpoint_error_names_flag(tmp_path):
    path = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {}, 'extra': Foreign()}, path)
    with pytest.raises(UntrustedCheckpointError) as info:
        _load_checkpoint(str(path))
    message = str(info.value)
    assert 'Foreign' in message and '--trust-checkpoint' in message
    assert isinstance(_load_checkpoint(trusted(path))['extra'], Foreign)


def test_missing_checkpoint_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / 'ckpt.pth'
    atomic_write_bytes(b'old', target)

    def broken_fsync(fd):
        raise OSError('disk gone')

    monkeypatch.setattr(os, 'fsync', broken_fsync)
    with pytest.raises(OSError):
        atomic_write_bytes(b'new' * 1000, target)
    assert target.read_bytes() == b'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ckpt.pth']


def test_atomic_write_gives_the_mode_open_would(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(b'data', tmp_path / 'a.pth')
        (tmp_path / 'b.pth').write_bytes(b'data')
    finally:
        os.umask(old)
    assert (tmp_path / 'a.pth').stat().st_mode & 0o777 == (tmp_path / 'b.pth').stat().st_mode & 0o777 == 0o644


def test_kill_during_saves_leaves_a_loadable_checkpoint(tmp_path):
    """SIGKILL a process that keeps saving a large checkpoint; the file on disk always loads."""
    script = textwrap.dedent(f'''
        import sys, torch
        import seg
        from mmengine.runner.checkpoint import save_checkpoint
        i = 0
        while True:
            save_checkpoint({{'state_dict': {{'w': torch.full((4_000_000,), float(i))}}, 'meta': {{'i': i}}}},
                            {str(tmp_path / 'latest.pth')!r})
            i += 1
            print(i, flush=True)
    ''')
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    saves = 0
    while saves < 3:  # let it finish a few saves, then kill it mid-way through the next
        line = proc.stdout.readline()
        assert line, 'the saving process died'
        saves += line.strip().isdigit()
    proc.kill()
    proc.wait()
    ckpt = torch.load(tmp_path / 'latest.pth', weights_only=True)
    assert torch.all(ckpt['state_dict']['w'] == ckpt['meta']['i'])
    leftovers = [p for p in tmp_path.iterdir() if p.name != 'latest.pth']
    assert all(p.name.endswith('.part') for p in leftovers)


@pytest.mark.parametrize('damage', ['garbage', 'truncated'])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, damage):
    path = tmp_path / 'damaged.pth'
    if damage == 'garbage':
        path.write_bytes(b'not a checkpoint')
    else:
        torch.save({'w': torch.ones(1000)}, path)
        path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CorruptCheckpointError, match='damaged.pth is not a readable torch checkpoint'):
        _load_checkpoint(str(path))
