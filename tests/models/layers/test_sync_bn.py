import socket
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.registry import DefaultScope

from seg.models.layers import SyncBatchNorm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_config_syncbn_builds_ours_under_seg_scope():
    with DefaultScope.overwrite_default_scope('seg'):
        name, layer = build_norm_layer(dict(type='SyncBN'), 8)
    assert isinstance(layer, SyncBatchNorm) and name == 'bn'
    assert set(layer.state_dict()) == set(nn.SyncBatchNorm(8).state_dict())


def test_single_process_cpu_equals_batchnorm():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    sync, ref = SyncBatchNorm(3), nn.BatchNorm2d(3)
    ref.load_state_dict(sync.state_dict())
    out = sync(x)
    torch.testing.assert_close(out, ref(x))
    torch.testing.assert_close(sync.running_var, ref.running_var)
    torch.autograd.grad(out.sum(), x)


def test_mmdet_resnet_with_syncbn_trains_on_cpu():
    from seg.registry import MODELS
    with DefaultScope.overwrite_default_scope('seg'):
        model = MODELS.build(dict(type='ResNet', depth=18, norm_cfg=dict(type='SyncBN', requires_grad=True)))
    model.train()
    outs = model(torch.randn(2, 3, 64, 64))
    sum(o.mean() for o in outs).backward()
    assert isinstance(model.bn1, SyncBatchNorm)


WORKER = textwrap.dedent('''
    import sys, torch, torch.distributed as dist
    import seg
    from seg.models.layers import SyncBatchNorm
    rank, world_size, port, data = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    inputs = torch.load(data)
    bn = SyncBatchNorm(3)
    bn.load_state_dict(inputs['state'])
    x = inputs['batch'].chunk(world_size)[rank].clone().requires_grad_(True)
    out = bn(x)
    (out * torch.arange(out.numel()).view_as(out).float().sin()).sum().backward()
    torch.save(dict(out=out.detach(), grad=x.grad, mean=bn.running_mean, var=bn.running_var,
                    weight_grad=bn.weight.grad), f'{data}.{rank}')
    # as seg.apis.runner.close_process_group: without the barrier gloo sometimes aborts at exit
    dist.barrier()
    dist.destroy_process_group()
''')


@pytest.mark.parametrize('world_size', [1, 2])
def test_gloo_processes_match_one_big_batch(world_size, tmp_path):
    torch.manual_seed(0)
    batch = torch.randn(4, 3, 4, 4)
    ref = nn.BatchNorm2d(3)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    data = tmp_path / 'inputs.pt'
    torch.save(dict(batch=batch, state=ref.state_dict()), data)

    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, '-c', WORKER, str(r), str(world_size), port, str(data)])
             for r in range(world_size)]
    assert [p.wait(timeout=120) for p in procs] == [0] * world_size
    results = [torch.load(f'{data}.{r}') for r in range(world_size)]

    x = batch.clone().requires_grad_(True)
    out = ref(x)
    weights = torch.cat([torch.arange(c.numel()).view_as(c).float().sin() for c in out.chunk(world_size)])
    (out * weights).sum().backward()
    torch.testing.assert_close(torch.cat([r['out'] for r in results]), out.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat([r['grad'] for r in results]), x.grad, rtol=1e-5, atol=1e-5)
    for r in results:
        torch.testing.assert_close(r['mean'], ref.running_mean)
        torch.testing.assert_close(r['var'], ref.running_var)
    # each process holds the gradient of its own loss term; summed they give the big batch's
    torch.testing.assert_close(sum(r['weight_grad'] for r in results), ref.weight.grad, rtol=1e-5, atol=1e-5)
