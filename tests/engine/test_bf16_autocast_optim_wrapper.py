"""BF16AutocastOptimWrapper (``tools/train.py --amp`` on CPU) and how ``--amp`` picks a wrapper for the machine."""
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

import seg.apis.runner as runner_api
from seg.engine.optimizers import BF16AutocastOptimWrapper, cpu_bf16_autocast_available
from seg.engine.optimizers import bf16_autocast_optim_wrapper
from seg.registry import OPTIM_WRAPPERS

needs_cpu_bf16 = pytest.mark.skipif(not cpu_bf16_autocast_available(), reason='this torch has no CPU bf16 autocast')


def _wrapper(model: nn.Module) -> BF16AutocastOptimWrapper:
    return OPTIM_WRAPPERS.build(dict(type='BF16AutocastOptimWrapper',
                                     optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))


@needs_cpu_bf16
def test_forward_autocasts_inside_optim_context_only():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    wrapper = _wrapper(model)
    inputs = torch.randn(2, 4)
    with wrapper.optim_context(model):
        out = model(inputs)
    assert out.dtype == torch.bfloat16
    assert model(inputs).dtype == torch.float32
    before = model.weight.detach().clone()
    wrapper.backward(out.float().square().mean())
    # no grad scaler: parameters and their gradients stay float32, and the step moves them
    assert model.weight.dtype == model.weight.grad.dtype == torch.float32
    wrapper.step()
    assert not torch.equal(model.weight, before)


@needs_cpu_bf16
def test_the_seg_scope_finds_it_by_name():
    """A config under ``default_scope='seg'`` names it, as ``--amp`` sets it, and mmengine's builders find it."""
    from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
    model = nn.Linear(2, 2)
    with DefaultScope.overwrite_default_scope('seg'):
        wrapper = MMENGINE_OPTIM_WRAPPERS.build(dict(type='BF16AutocastOptimWrapper',
                                                     optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    assert isinstance(wrapper, BF16AutocastOptimWrapper)


def test_no_cpu_bf16_autocast_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(bf16_autocast_optim_wrapper, 'cpu_bf16_autocast_available', lambda: False)
    with pytest.raises(RuntimeError, match='no bfloat16 autocast on CPU'):
        _wrapper(nn.Linear(2, 2))


def _cfg() -> Config:
    return Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))


@pytest.mark.skipif(torch.cuda.is_available(), reason='with CUDA --amp takes AmpOptimWrapper')
def test_amp_without_cuda_takes_the_bf16_wrapper(monkeypatch):
    monkeypatch.setattr(runner_api, 'cpu_bf16_autocast_available', lambda: True)
    cfg = runner_api.use_amp(_cfg())
    assert cfg.optim_wrapper.type == 'BF16AutocastOptimWrapper' and 'loss_scale' not in cfg.optim_wrapper


@pytest.mark.skipif(torch.cuda.is_available(), reason='with CUDA --amp takes AmpOptimWrapper')
def test_amp_without_cuda_or_cpu_bf16_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(runner_api, 'cpu_bf16_autocast_available', lambda: False)
    with pytest.raises(RuntimeError, match='--amp needs a CUDA device or CPU bfloat16 autocast'):
        runner_api.use_amp(_cfg())


def test_amp_with_cuda_keeps_mmengines_fp16_wrapper(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = runner_api.use_amp(_cfg())
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
