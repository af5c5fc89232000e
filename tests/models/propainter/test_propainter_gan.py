"""ProPainter stage 2: ProPainterGAN's training step, frozen networks, weights files and whole-video prediction."""
import math

import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import DefaultScope
from torchvision.models import vgg19

from seg.models.flow import RecurrentFlowCompleteNet
from seg.models.losses.perceptual_loss import MissingVGGWeightsError
from seg.models.propainter import ProPainterGAN
from seg.models.propainter.frozen_networks import MissingWeightsError
from seg.models.utils.non_finite_loss import NonFiniteLossError

from .test_flow_completion_stage import RAFT, SIZE, clip_batch


@pytest.fixture(scope='module')
def flow_completion_file(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('weights') / 'flow_completion.pth'
    # A stage-1 checkpoint: the net under flow_net.*, as FlowCompletionModel saves it.
    torch.save(dict(state_dict={f'flow_net.{k}': v for k, v in RecurrentFlowCompleteNet().state_dict().items()}),
               path)
    return str(path)


@pytest.fixture(scope='module')
def vgg_file(tmp_path_factory) -> str:
    """The first two convolutions of a torchvision VGG19 state_dict (all that layer conv1_2 needs)."""
    path = tmp_path_factory.mktemp('weights') / 'vgg19.pth'
    torch.save({k: v for k, v in vgg19(weights=None).state_dict().items() if k.split('.')[1] in ('0', '2')}, path)
    return str(path)


def build(flow_completion_file, **kwargs):
    with DefaultScope.overwrite_default_scope('seg'):
        return ProPainterGAN(**dict(dict(num_local_frames=3, flow_completion_checkpoint=flow_completion_file,
                                         flow_estimator=RAFT), **kwargs))


def wrappers(model):
    return OptimWrapperDict(
        generator=OptimWrapper(torch.optim.Adam(model.generator.parameters(), lr=1e-4, betas=(0.0, 0.99))),
        discriminator=OptimWrapper(torch.optim.Adam(model.discriminator.parameters(), lr=1e-4, betas=(0.0, 0.99))))


def snapshot(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def changed(module, before):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_train_step_updates_both_players_and_leaves_the_frozen_networks_alone(flow_completion_file):
    torch.manual_seed(0)
    model = build(flow_completion_file)
    frozen = {name: model.frozen[name] for name in ('flow_completion', 'flow_estimator')}
    frozen_before = {name: snapshot(net) for name, net in frozen.items()}
    generator_before, discriminator_before = snapshot(model.generator), snapshot(model.discriminator)
    log = model.train_step(clip_batch(num_frames=4), wrappers(model))
    assert list(log) == ['loss_hole', 'loss_valid', 'loss_gan', 'loss', 'loss_dis_real', 'loss_dis_fake']
    assert all(math.isfinite(float(v)) for v in log.values())
    assert float(log['loss']) == pytest.approx(float(log['loss_hole'] + log['loss_valid'] + log['loss_gan']))
    assert changed(model.generator, generator_before) and changed(model.discriminator, discriminator_before)
    for name, net in frozen.items():
        assert not changed(net, frozen_before[name]) and not net.training
        assert all(p.grad is None and not p.requires_grad for p in net.parameters())
    assert {key.split('.')[0] for key in model.state_dict()} == {'generator', 'discriminator'}


def test_precomputed_flows_need_no_raft(flow_completion_file):
    model = build(flow_completion_file, flow_estimator=None, discriminator=None)
    optim = OptimWrapperDict(generator=OptimWrapper(torch.optim.Adam(model.generator.parameters(), lr=1e-4)))
    batch = clip_batch(num_frames=4, flows=True)
    for sample in batch['data_samples']:  # flows of the 3 local frames only
        sample.flows_forward, sample.flows_backward = sample.flows_forward[:2], sample.flows_backward[:2]
    log = model.train_step(batch, optim)
    assert list(log) == ['loss_hole', 'loss_valid', 'loss'] and math.isfinite(float(log['loss']))


def test_a_nan_term_stops_training_before_any_update(flow_completion_file):
    model = build(flow_completion_file, hole_weight=float('nan'))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with pytest.raises(NonFiniteLossError, match='loss_hole'):
        model.train_step(clip_batch(num_frames=4), wrappers(model))
    # (The spectral norm's power-iteration buffers move in any forward pass; the weights must not.)
    assert all(torch.equal(before[name], p) for name, p in model.named_parameters())


def test_missing_weights_files_name_the_config_key_and_the_file(flow_completion_file, tmp_path):
    with pytest.raises(MissingWeightsError,
                       match=r'model\.flow_completion_checkpoint.*recurrent_flow_completion\.pth'):
        build(str(tmp_path / 'absent.pth'))
    with pytest.raises(MissingVGGWeightsError, match=r'model\.vgg_weights.*vgg19-dcbb9e9d\.pth'):
        build(flow_completion_file, vgg_weights=str(tmp_path / 'vgg.pth'), perceptual_weight=1.0)


def test_perceptual_and_style_terms_only_with_vgg_weights(flow_completion_file, vgg_file):
    without = build(flow_completion_file, perceptual_weight=1.0, style_weight=1.0)
    assert without.perceptual_loss is None
    model = build(flow_completion_file, vgg_weights=vgg_file, perceptual_weight=0.1, style_weight=10.0,
                  perceptual_layers=dict(conv1_2=1.0))
    log = model.train_step(clip_batch(num_frames=4), wrappers(model))
    assert 'loss_perceptual' in log and 'loss_style' in log
    assert math.isfinite(float(log['loss_perceptual'])) and math.isfinite(float(log['loss_style']))
    assert not any(key.startswith('perceptual_loss') for key in model.state_dict())


def test_predict_completes_whole_videos_and_keeps_the_known_pixels(flow_completion_file):
    model = build(flow_completion_file, discriminator=None, neighbor_stride=2, ref_stride=3).eval()
    batch = clip_batch(num_frames=7)
    (sample, ) = model.val_step(batch)
    pred = sample.pred_frames
    assert pred.shape == (7, 3, SIZE, SIZE) and pred.dtype == torch.float32
    assert 0 <= pred.min() and pred.max() <= 1
    known = (1 - sample.masks.cpu()).bool().expand(-1, 3, -1, -1)
    assert torch.equal(pred[known] * 255, batch['inputs'][0].float()[known])


def test_a_bare_generator_state_dict_loads_into_the_generator(flow_completion_file):
    model = build(flow_completion_file)
    source = build(flow_completion_file)
    model.load_state_dict(source.generator.state_dict(), strict=False)
    assert all(torch.equal(v, model.generator.state_dict()[k]) for k, v in source.generator.state_dict().items())
