import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
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


def _worker(rank, world_size, port, batch, state, queue):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size)
    try:
        bn = SyncBatchNorm(3)
        bn.load_state_dict(state)
        x = batch.chunk(world_size)[rank].clone().requires_grad_(True)
        out = bn(x)
        (out * torch.arange(out.numel()).view_as(out).float().sin()).sum().backward()
        queue.put((rank, out.detach(), x.grad, bn.running_mean.clone(), bn.running_var.clone(),
                   bn.weight.grad.clone()))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize('world_size', [1, 2])
def test_gloo_processes_match_one_big_batch(world_size):
    torch.manual_seed(0)
    batch = torch.randn(4, 3, 4, 4)
    ref = nn.BatchNorm2d(3)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
        ref.bias.uniform_(-0.5, 0.5)
    state = {k: v.clone() for k, v in ref.state_dict().items()}

    ctx = mp.get_context('spawn')
    queue = ctx.SimpleQueue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world_size, port, batch, state, queue))
             for r in range(world_size)]
    for p in procs:
        p.start()
    results = sorted((queue.get() for _ in procs), key=lambda r: r[0])
    for p in procs:
        p.join(60)
        assert p.exitcode == 0

    x = batch.clone().requires_grad_(True)
    out = ref(x)
    weights = torch.cat([torch.arange(c.numel()).view_as(c).float().sin() for c in out.chunk(world_size)])
    (out * weights).sum().backward()
    torch.testing.assert_close(torch.cat([r[1] for r in results]), out.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.cat([r[2] for r in results]), x.grad, rtol=1e-5, atol=1e-5)
    for r in results:
        torch.testing.assert_close(r[3], ref.running_mean)
        torch.testing.assert_close(r[4], ref.running_var)
        # DDP would average these over processes; summed they equal the big-batch gradient
    torch.testing.assert_close(sum(r[5] for r in results), ref.weight.grad, rtol=1e-5, atol=1e-5)
