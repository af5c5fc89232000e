"""VideoInpaintingGAN: the official training iteration, non-finite guards, whole-video inference, loading,
and the data contract end to end (dataset items → preprocessor → train_step / val_step → metric)."""

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmengine.structures import BaseDataElement

from seg.datasets.video_inpainting_dataset import VideoInpaintingDataset
from seg.models.utils.non_finite_loss import NonFiniteLossError
from seg.engine.optimizers import MultiOptimWrapperConstructor
from seg.models.flow.spynet import SPyNet
import seg.models.inpainters  # noqa: F401  (registers the generators and the discriminator)
from seg.models.inpainters.video_inpainting_gan import VideoInpaintingGAN
from seg.models.losses.flow_completion_loss import SPYNET_URL
from seg.registry import MODELS
from seg.toy_data import make_e2fgvi

ALL_TERMS = {'loss_hole', 'loss_valid', 'loss_flow', 'loss_gan', 'loss_dis_real', 'loss_dis_fake', 'loss'}


@MODELS.register_module(force=True)
class TinyInpaintGenerator(nn.Module):
    """The generator interface in two convs: a frame conv and a flow head on 1/4-size frame pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.frame_conv = nn.Conv2d(3, 3, 3, padding=1)
        self.flow_head = nn.Conv2d(6, 2, 3, padding=1)

    def _flows(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        b, n, c, h, w = first.shape
        return self.flow_head(torch.cat([first, second], 2).view(-1, 2 * c, h, w)).view(b, n, 2, h, w)

    def forward(self, masked_frames, num_local_frames):
        b, t, c, h, w = masked_frames.shape
        pred = torch.tanh(self.frame_conv(masked_frames.reshape(-1, c, h, w)))
        small = F.interpolate(masked_frames[:, :num_local_frames].reshape(-1, c, h, w), size=(h // 4, w // 4))
        small = small.view(b, num_local_frames, c, h // 4, w // 4)
        return pred, (self._flows(small[:, :-1], small[:, 1:]), self._flows(small[:, 1:], small[:, :-1]))


@pytest.fixture(scope='module')
def spynet_file(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('spynet') / 'spynet.pth'
    torch.save(SPyNet().state_dict(), path)
    return str(path)


def build_gan(spynet_file, generator=None, num_local_frames=3, **kwargs) -> VideoInpaintingGAN:
    torch.manual_seed(0)
    return VideoInpaintingGAN(generator=generator or dict(type='TinyInpaintGenerator'),
                              discriminator=dict(type='TemporalPatchDiscriminator'),
                              flow_supervisor=dict(type='SPyNet', pretrained=spynet_file),
                              num_local_frames=num_local_frames, **kwargs)


def optim_wrappers(model, lr=1e-3):
    adam = dict(optimizer=dict(type='Adam', lr=lr, betas=(0.0, 0.99)))
    return MultiOptimWrapperConstructor(dict(generator=adam, discriminator=adam))(model)


def clip_batch(batch=2, frames=4, height=32, width=32, seed=0, hole_fraction=0.3):
    """A pseudo-collated batch of dataset-like items: uint8 frames, data samples with uint8 0/1 masks."""
    generator = torch.Generator().manual_seed(seed)
    items = []
    for index in range(batch):
        pixels = torch.randint(0, 256, (frames, 3, height, width), generator=generator, dtype=torch.uint8)
        masks = (torch.rand(frames, 1, height, width, generator=generator) < hole_fraction).to(torch.uint8)
        sample = BaseDataElement(metainfo=dict(video_name=f'vid_{index}', frame_ids=list(range(frames)),
                                               ori_shape=(height, width)), masks=masks)
        items.append(dict(inputs=pixels, data_samples=sample))
    return pseudo_collate(items)


def snapshot(model):
    """The parameters (spectral norm's power-iteration buffers advance on every discriminator forward)."""
    return {name: value.detach().clone() for name, value in model.named_parameters()}


def changed_players(model, before):
    return {name.split('.')[0] for name, value in model.named_parameters() if not torch.equal(value, before[name])}


def test_train_step_logs_every_term_and_steps_both_players(spynet_file):
    model = build_gan(spynet_file)
    wrappers = optim_wrappers(model)
    before = snapshot(model)
    supervisor = {k: v.clone() for k, v in model.flow_loss.flow_net.state_dict().items()}
    log_vars = model.train_step(clip_batch(), wrappers)
    assert set(log_vars) == ALL_TERMS
    assert all(torch.isfinite(value) and value.dim() == 0 for value in log_vars.values())
    generator_terms = ('loss_hole', 'loss_valid', 'loss_flow', 'loss_gan')
    assert log_vars['loss'].item() == pytest.approx(sum(log_vars[k].item() for k in generator_terms), rel=1e-6)
    assert changed_players(model, before) == {'generator', 'discriminator'}
    assert all(torch.equal(v, supervisor[k]) for k, v in model.flow_loss.flow_net.state_dict().items())
    # The generator's adversarial pass must not leave gradients in the discriminator.
    assert all(p.grad is None or not p.grad.any() for p in model.discriminator.parameters())
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_losses_follow_the_official_normalisation(spynet_file):
    model = build_gan(spynet_file, hole_weight=2.0, valid_weight=0.5)
    data = model.data_preprocessor(clip_batch(), True)
    frames = data['inputs']
    masks = torch.stack([sample.masks for sample in data['data_samples']])
    pred, flows = model.generator(frames * (1 - masks), 3)
    pred = pred.view(frames.shape)
    losses = model._reconstruction_losses(frames, masks, pred, flows)
    hole = (pred * masks - frames * masks).abs().mean() / masks.mean() * 2.0
    valid = (pred * (1 - masks) - frames * (1 - masks)).abs().mean() / (1 - masks).mean() * 0.5
    assert losses['loss_hole'].item() == pytest.approx(hole.item(), rel=1e-6)
    assert losses['loss_valid'].item() == pytest.approx(valid.item(), rel=1e-6)
    assert losses['loss_flow'].item() == pytest.approx(
        model.flow_loss(flows, (frames[:, :3] + 1) / 2).item(), rel=1e-6)


def test_hq_generator_trains_at_60x108(spynet_file):
    model = build_gan(spynet_file, generator=dict(type='E2FGVIHQGenerator'), num_local_frames=2)
    before = snapshot(model)
    log_vars = model.train_step(clip_batch(batch=1, frames=3, height=60, width=108), optim_wrappers(model, 1e-4))
    assert set(log_vars) == ALL_TERMS and all(torch.isfinite(v) for v in log_vars.values())
    assert changed_players(model, before) == {'generator', 'discriminator'}


#: (is_real, for_discriminator) of the three adversarial-loss calls of one iteration.
CALLS = {'loss_dis_real': (True, True), 'loss_dis_fake': (False, True), 'loss_gan': (True, False)}


def poison_adversarial(model, monkeypatch, term):
    """Make the adversarial-loss call behind ``term`` return NaN; the other calls stay real."""
    real_loss = model.adversarial_loss.forward

    def loss(scores, is_real, for_discriminator):
        value = real_loss(scores, is_real, for_discriminator)
        return value * float('nan') if (is_real, for_discriminator) == CALLS[term] else value

    monkeypatch.setattr(model.adversarial_loss, 'forward', loss)


@pytest.mark.parametrize('term', ['loss_hole', 'loss_flow', 'loss_dis_real', 'loss_dis_fake'])
def test_nan_before_any_backward_names_the_term_and_changes_nothing(spynet_file, monkeypatch, term):
    model = build_gan(spynet_file)
    wrappers = optim_wrappers(model)
    batch = clip_batch()
    if term == 'loss_hole':
        for sample in batch['data_samples']:
            sample.masks = torch.zeros_like(sample.masks)  # mean(mask) = 0: 0 / 0
    elif term == 'loss_flow':
        monkeypatch.setattr(model.flow_loss, 'forward', lambda flows, frames: flows[0].sum() * float('nan'))
    else:
        poison_adversarial(model, monkeypatch, term)
    before = snapshot(model)
    with pytest.raises(NonFiniteLossError, match=term) as info:
        model.train_step(batch, wrappers)
    assert info.value.term == term and 'no weights were updated' in str(info.value)
    assert changed_players(model, before) == set()
    assert all(not wrapper.optimizer.state for wrapper in wrappers.values())
    assert all(p.grad is None for p in model.parameters())


def test_nan_adversarial_term_stops_before_the_generator_changes(spynet_file, monkeypatch):
    model = build_gan(spynet_file)
    poison_adversarial(model, monkeypatch, 'loss_gan')
    before = snapshot(model)
    with pytest.raises(NonFiniteLossError, match='loss_gan') as info:
        model.train_step(clip_batch(), optim_wrappers(model))
    assert 'generator was not updated' in str(info.value)
    assert changed_players(model, before) == {'discriminator'}


def test_without_discriminator_or_flow_supervisor_only_reconstruction_terms(spynet_file):
    model = VideoInpaintingGAN(generator=dict(type='TinyInpaintGenerator'), flow_weight=0.0, num_local_frames=3)
    adam = dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.0, 0.99)))
    log_vars = model.train_step(clip_batch(), MultiOptimWrapperConstructor(dict(generator=adam))(model))
    assert set(log_vars) == {'loss_hole', 'loss_valid', 'loss'}


def test_configuration_errors_name_the_fix(spynet_file, tmp_path):
    with pytest.raises(ValueError, match='flow_weight=0'):
        VideoInpaintingGAN(generator=dict(type='TinyInpaintGenerator'))
    missing = str(tmp_path / 'spynet_20210409-c6c1bd09.pth')
    with pytest.raises(FileNotFoundError) as info:
        VideoInpaintingGAN(generator=dict(type='E2FGVIHQGenerator', spynet_pretrained=missing), flow_weight=0.0)
    assert SPYNET_URL in str(info.value) and 'generator.spynet_pretrained' in str(info.value)
    with pytest.raises(ValueError, match='use_sigmoid=True'):
        VideoInpaintingGAN(generator=dict(type='TinyInpaintGenerator'), flow_weight=0.0, gan_loss='nsgan',
                           discriminator=dict(type='TemporalPatchDiscriminator', use_sigmoid=False))
    model = build_gan(spynet_file)
    adam = dict(optimizer=dict(type='Adam', lr=1e-3))
    with pytest.raises(KeyError, match='discriminator'):
        model.train_step(clip_batch(), MultiOptimWrapperConstructor(dict(generator=adam))(model))


def official_complete_video(generator, frames_uint8, masks, neighbor_stride=5, ref_length=10):
    """A literal re-statement of the official evaluate.py window loop (numpy compositing)."""
    length = len(frames_uint8)
    imgs = torch.from_numpy(frames_uint8).permute(0, 3, 1, 2).float()[None] / 255 * 2 - 1
    masks = masks[None]
    comp_frames = [None] * length
    for f in range(0, length, neighbor_stride):
        neighbor_ids = [i for i in range(max(0, f - neighbor_stride), min(length, f + neighbor_stride + 1))]
        ref_ids = [i for i in range(0, length, ref_length) if i not in neighbor_ids]
        selected_imgs, selected_masks = imgs[:1, neighbor_ids + ref_ids], masks[:1, neighbor_ids + ref_ids]
        with torch.no_grad():
            pred_img, _ = generator(selected_imgs * (1 - selected_masks), len(neighbor_ids))
        pred_img = ((pred_img + 1) / 2).permute(0, 2, 3, 1).numpy() * 255
        binary_masks = masks[0, neighbor_ids].permute(0, 2, 3, 1).numpy().astype(np.uint8)
        for i, idx in enumerate(neighbor_ids):
            img = pred_img[i].astype(np.uint8) * binary_masks[i] + frames_uint8[idx] * (1 - binary_masks[i])
            comp_frames[idx] = img if comp_frames[idx] is None else \
                comp_frames[idx].astype(np.float32) * 0.5 + img.astype(np.float32) * 0.5
    return np.stack(comp_frames).astype(np.float64)


def test_val_step_completes_whole_videos_as_the_official_evaluation(spynet_file):
    model = build_gan(spynet_file).eval()
    batch = clip_batch(batch=1, frames=23, height=32, width=48, seed=3)
    results = model.val_step(batch)
    assert len(results) == 1 and isinstance(results[0], BaseDataElement) and results[0].video_name == 'vid_0'
    assert results[0].frame_ids == list(range(23)) and results[0].ori_shape == (32, 48)
    pred = results[0].pred_frames
    assert pred.shape == (23, 3, 32, 48) and pred.dtype == torch.float32 and pred.device.type == 'cpu'
    frames_uint8 = batch['inputs'][0].permute(0, 2, 3, 1).numpy()
    masks = batch['data_samples'][0].masks.float()
    expected = official_complete_video(model.generator, frames_uint8, masks)
    np.testing.assert_allclose(pred.permute(0, 2, 3, 1).double().numpy() * 255, expected, atol=1e-3)
    known = masks.expand(-1, 3, -1, -1) == 0
    assert torch.equal((pred * 255).round()[known], batch['inputs'][0].float()[known])


def test_hq_inference_mirror_pads_and_crops(spynet_file):
    model = build_gan(spynet_file, generator=dict(type='E2FGVIHQGenerator'), num_local_frames=2).eval()
    results = model.val_step(clip_batch(batch=1, frames=3, height=50, width=100))
    assert results[0].pred_frames.shape == (3, 3, 50, 100)


def test_a_bare_generator_state_dict_loads_into_the_generator(spynet_file):
    model = build_gan(spynet_file)
    released = {k: torch.randn_like(v) for k, v in model.generator.state_dict().items()}
    discriminator = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    # The path a config's load_from takes (mmengine's loader, strict=False).
    _load_checkpoint_to_model(model, dict(released), strict=False)
    assert all(torch.equal(v, released[k]) for k, v in model.generator.state_dict().items())
    assert all(torch.equal(v, discriminator[k]) for k, v in model.discriminator.state_dict().items())
    # Our own checkpoints still load as they are.
    other = build_gan(spynet_file)
    other.load_state_dict(model.state_dict(), strict=True)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in other.state_dict().items())


def test_an_evaluation_model_loads_a_training_checkpoint_strictly(spynet_file):
    trained = build_gan(spynet_file)
    evaluation = VideoInpaintingGAN(generator=dict(type='TinyInpaintGenerator'), flow_weight=0.0)
    evaluation.load_state_dict(trained.state_dict(), strict=True)
    assert all(torch.equal(v, trained.generator.state_dict()[k]) for k, v in evaluation.generator.state_dict().items())


def test_optimisers_hold_only_their_own_player(spynet_file):
    model = build_gan(spynet_file)
    adam = dict(optimizer=dict(type='Adam', lr=1e-3))
    wrappers = MultiOptimWrapperConstructor(dict(generator=adam, discriminator=adam,
                                                 clip_grad=dict(max_norm=1.0)))(model)
    for name in ('generator', 'discriminator'):
        held = {id(p) for group in wrappers[name].optimizer.param_groups for p in group['params']}
        assert held == {id(p) for p in getattr(model, name).parameters()}
        assert wrappers[name].clip_grad_kwargs == dict(max_norm=1.0)
    with pytest.raises(ValueError, match='no submodule'):
        MultiOptimWrapperConstructor(dict(critic=adam))(model)


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    """Toy E2FGVI data at 72x96 (the smallest round size above SSIM's 65-px window)."""
    return make_e2fgvi(tmp_path_factory.mktemp('e2fgvi'), num_train=2, num_val=1, num_frames=8, height=72, width=96)


def test_train_step_on_a_collated_batch_of_two_dataset_items(spynet_file, toy_root):
    dataset = VideoInpaintingDataset(str(toy_root), ann_file='train.json', size=None, num_local_frames=3,
                                     num_ref_frames=1, seed=0)
    batch = pseudo_collate([dataset[0], dataset[1]])
    model = build_gan(spynet_file)
    before = snapshot(model)
    log_vars = model.train_step(batch, optim_wrappers(model))
    assert set(log_vars) == ALL_TERMS and all(torch.isfinite(v) for v in log_vars.values())
    assert changed_players(model, before) == {'generator', 'discriminator'}
    # The batch itself is left as the loader gave it (the metric reads it after the model).
    assert all(item.dtype == torch.uint8 for item in batch['inputs'])
    assert all(sample.masks.dtype == torch.uint8 for sample in batch['data_samples'])
    pred, _ = model(**model.data_preprocessor(batch), mode='tensor')
    assert pred.shape == (2 * 4, 3, 72, 96)


def test_val_step_outputs_score_in_the_metric_against_the_batch(spynet_file, toy_root):
    dataset = VideoInpaintingDataset(str(toy_root), ann_file='test.json', mask_dir=None, size=None, test_mode=True)
    batch = pseudo_collate([dataset[0]])
    model = build_gan(spynet_file).eval()
    outputs = model.val_step(batch)
    with DefaultScope.overwrite_default_scope('seg'):
        evaluator = Evaluator(dict(type='VideoInpaintingMetric'))
    evaluator.process(outputs, batch)
    psnr = evaluator.evaluate(1)['inpaint/PSNR']
    pred = (outputs[0].pred_frames * 255).double()
    mse = ((pred - batch['inputs'][0].double()) ** 2).mean(dim=(1, 2, 3))
    assert psnr == pytest.approx((10 * torch.log10(255 ** 2 / mse)).mean().item(), rel=1e-6)
