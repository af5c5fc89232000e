"""ProPainter stage 1: flow edges, the stage-1 losses, FlowCompletionModel and FlowCompletionMetric."""
import math

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement

from seg.evaluation.metrics import FlowCompletionMetric
from seg.models.propainter import FlowCompletionModel
from seg.models.propainter.flow_completion_losses import edge_loss, flow_completion_losses
from seg.models.propainter.flow_edges import canny, flow_edges
from seg.models.propainter.frozen_networks import MissingWeightsError
from seg.models.utils.non_finite_loss import NonFiniteLossError

SIZE = 64
RAFT = dict(type='BidirectionalRAFT', raft=dict(type='RAFT', small=True), iters=2)


def clip_batch(batch_size=1, num_frames=4, flows=False, seed=0):
    """VideoInpaintingDataset-like items: a textured square moving right by 2 px a frame, a hole in the middle."""
    generator = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        background = torch.randint(0, 256, (3, SIZE, SIZE), generator=generator, dtype=torch.uint8)
        frames = []
        for index in range(num_frames):
            frame = background.clone()
            frame[:, 20:36, 8 + 2 * index:24 + 2 * index] = 200
            frames.append(frame)
        masks = torch.zeros(num_frames, 1, SIZE, SIZE, dtype=torch.uint8)
        masks[:, :, 24:40, 16:40] = 1
        sample = BaseDataElement(masks=masks, metainfo=dict(video_name=f'v{len(samples)}'))
        if flows:
            forward = torch.zeros(num_frames - 1, 2, SIZE, SIZE)
            forward[:, 0, 20:36, 8:30] = 2.0
            sample.flows_forward, sample.flows_backward = forward, -forward
        inputs.append(torch.stack(frames))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def build(**kwargs):
    with DefaultScope.overwrite_default_scope('seg'):
        return FlowCompletionModel(**dict(dict(num_local_frames=4, flow_estimator=RAFT), **kwargs))


def test_canny_finds_the_border_of_a_moving_square_and_nothing_in_still_flow():
    flows = torch.zeros(1, 2, 2, 48, 48)
    flows[:, :, 0, 16:32, 16:32] = 4.0
    edges = flow_edges(flows)
    assert edges.shape == (1, 2, 1, 48, 48) and set(edges.unique().tolist()) <= {0.0, 1.0}
    ring = torch.zeros(48, 48, dtype=torch.bool)
    ring[13:35, 13:35] = True
    ring[19:29, 19:29] = False
    inside = edges[0, 0, 0].bool()
    assert inside.any() and not (inside & ~ring).any()
    assert not flow_edges(flows * 0.1).any()  # peak magnitude 0.4 px < 1: still
    assert not canny(torch.full((1, 1, 16, 16), 0.5)).any()


def test_stage_one_losses_vanish_for_a_perfect_completion_and_grow_with_error():
    torch.manual_seed(0)
    gt = (torch.randn(1, 3, 2, 32, 32), torch.randn(1, 3, 2, 32, 32))
    masks = torch.zeros(1, 4, 1, 32, 32)
    masks[:, :, :, 8:24, 8:24] = 1
    frames = torch.rand(1, 4, 3, 32, 32) * 2 - 1
    perfect, _, _ = flow_completion_losses(gt, gt, masks, frames)
    assert perfect.item() == 0
    noisy = tuple(flow + masks[:, 1:] * 0.5 for flow in gt)
    reconstruction, smoothness, warp = flow_completion_losses(noisy, gt, masks, frames)
    assert reconstruction.item() == pytest.approx(2 * 0.5, rel=1e-4)  # hole L1 / hole area, both directions
    assert smoothness.item() > 0 and warp.item() >= 0
    edges = (torch.zeros(1, 3, 1, 32, 32), torch.zeros(1, 3, 1, 32, 32))
    edges[0][:, :, :, 16] = 1
    right = edge_loss(tuple(e * 20 - 10 for e in edges), edges, masks)
    wrong = edge_loss(tuple(10 - e * 20 for e in edges), edges, masks)
    # Outside the hole the composited term compares 0/1 targets used as logits (official), so neither is 0.
    assert 0 < right.item() < wrong.item() / 10


def test_train_step_names_finite_terms_trains_only_the_flow_net_and_saves_flow_net_keys():
    model = build()
    raft = model.frozen['flow_estimator']
    raft_before = {k: v.clone() for k, v in raft.state_dict().items()}
    net_before = {k: v.clone() for k, v in model.flow_net.state_dict().items()}
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    log = model.train_step(clip_batch(batch_size=2), wrapper)
    assert list(log) == ['loss_flow', 'loss_smooth', 'loss_warp', 'loss_edge', 'loss']
    assert all(math.isfinite(float(v)) for v in log.values())
    assert all(p.grad is None for p in raft.parameters()) and not any(p.requires_grad for p in raft.parameters())
    assert all(torch.equal(raft_before[k], v) for k, v in raft.state_dict().items())
    assert any(not torch.equal(net_before[k], v) for k, v in model.flow_net.state_dict().items())
    assert model.state_dict() and all(key.startswith('flow_net.') for key in model.state_dict())


def test_precomputed_flows_replace_raft_and_a_model_without_raft_needs_them():
    model = build(flow_estimator=None)
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    log = model.train_step(clip_batch(flows=True), wrapper)
    assert math.isfinite(float(log['loss']))
    with pytest.raises(ValueError, match='flows_forward'):
        model.train_step(clip_batch(), wrapper)


def test_a_nan_term_stops_training_naming_it():
    model = build(edge_weight=float('nan'))
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(NonFiniteLossError, match='loss_edge'):
        model.train_step(clip_batch(), wrapper)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_missing_raft_file_names_the_config_key_and_the_release_file(tmp_path):
    with pytest.raises(MissingWeightsError, match=r'model\.raft_checkpoint.*raft-things\.pth'):
        build(raft_checkpoint=str(tmp_path / 'absent.pth'))


def test_predict_and_metric_score_the_completed_flows_on_the_hole():
    model = build(flow_estimator=None).eval()
    batch = clip_batch(num_frames=6, flows=True)
    batch['data_samples'][0].flows_forward = torch.zeros(5, 2, SIZE, SIZE)
    batch['data_samples'][0].flows_backward = torch.zeros(5, 2, SIZE, SIZE)
    (sample, ) = model.val_step(batch)
    assert sample.pred_flows_forward.shape == (5, 2, SIZE, SIZE)
    hole = sample.masks[:-1].cpu().bool().expand(-1, 2, -1, -1)
    assert torch.equal(sample.pred_flows_forward[~hole], sample.gt_flows_forward[~hole])  # combined outside holes
    metric = FlowCompletionMetric()
    metric.process(batch, [sample.to_dict()])
    scores = metric.compute_metrics(metric.results)
    pred = torch.cat([sample.pred_flows_forward, sample.pred_flows_backward])
    masks = torch.cat([sample.masks[:-1], sample.masks[1:]]).cpu()
    expected = (pred.norm(dim=1, keepdim=True) * masks).sum() / masks.sum()
    assert scores['EPE_hole'] == pytest.approx(expected.item(), rel=1e-5)
    assert 0 < scores['EPE'] < scores['EPE_hole']
