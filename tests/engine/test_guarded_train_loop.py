"""GuardedTrainLoop: a non-finite loss stops training with the term, the iteration and the last checkpoint."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from seg.fileio.checkpoint import load_local_checkpoint
from seg.engine.loops import GuardedTrainLoop, last_good_checkpoint
from seg.models.utils.non_finite_loss import NO_CHECKPOINT, NonFiniteLossError, check_finite_losses


class NaNAtIterationModel(BaseModel):
    """A linear regressor whose loss term ``loss_toy`` turns NaN at one (1-based) iteration, before backward."""

    def __init__(self, nan_at: int) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.nan_at = nan_at
        self.calls = 0
        self.weights_before_last_call = None

    def forward(self, inputs, mode='tensor'):
        return self.linear(inputs)

    def train_step(self, data, optim_wrapper):
        self.calls += 1
        self.weights_before_last_call = {k: v.clone() for k, v in self.state_dict().items()}
        inputs = torch.stack(data)
        loss = self.linear(inputs).pow(2).mean()
        if self.calls == self.nan_at:
            loss = loss * float('nan')
        check_finite_losses(dict(loss_toy=loss), 'found before any backward pass; no weights were updated')
        optim_wrapper.update_params(loss)
        return dict(loss_toy=loss.detach())


def run(tmp_path: Path, nan_at: int, checkpoint_interval: int):
    model = NaNAtIterationModel(nan_at)
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=dict(dataset=[torch.randn(2) for _ in range(8)], batch_size=2,
                              sampler=dict(type='InfiniteSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(type='GuardedTrainLoop', max_iters=10, val_interval=100),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=checkpoint_interval),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='seg',
        experiment_name=f'guarded_{nan_at}_{checkpoint_interval}')
    with pytest.raises(NonFiniteLossError) as info:
        runner.train()
    assert isinstance(runner.train_loop, GuardedTrainLoop)
    return model, info.value


def test_error_names_term_iteration_and_last_checkpoint(tmp_path):
    model, error = run(tmp_path, nan_at=5, checkpoint_interval=2)
    assert error.term == 'loss_toy' and error.iteration == 5
    assert error.last_checkpoint == str(tmp_path / 'iter_4.pth')
    message = str(error)
    assert "'loss_toy'" in message and 'iteration 5' in message and 'iter_4.pth' in message
    assert isinstance(error.__cause__, NonFiniteLossError)
    # Nothing changed in the failing iteration, and the checkpoint is finite.
    assert all(torch.equal(v, model.weights_before_last_call[k]) for k, v in model.state_dict().items())
    state = load_local_checkpoint(error.last_checkpoint)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values())


def test_before_the_first_checkpoint_it_says_so(tmp_path):
    _, error = run(tmp_path, nan_at=2, checkpoint_interval=5)
    assert error.iteration == 2 and error.last_checkpoint == NO_CHECKPOINT
    assert NO_CHECKPOINT in str(error)


def test_last_good_checkpoint_reads_the_work_dir_record(tmp_path):
    assert last_good_checkpoint(str(tmp_path)) == NO_CHECKPOINT
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    assert last_good_checkpoint(str(tmp_path)) == NO_CHECKPOINT
    (tmp_path / 'iter_3.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_3.pth'))
    assert last_good_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_3.pth')


def test_check_finite_losses_names_the_first_bad_term():
    check_finite_losses(dict(a=torch.tensor(1.0), b=2.0))
    with pytest.raises(NonFiniteLossError, match="'b' is inf"):
        check_finite_losses(dict(a=torch.tensor(1.0), b=torch.tensor(float('inf')), c=float('nan')))
