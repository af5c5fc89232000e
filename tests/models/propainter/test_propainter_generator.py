"""ProPainterGenerator: layout, modes, pixel propagation, sizes and checkpoint loading (random weights, small clips)."""
import pytest
import torch

from seg.fileio.errors import InputError
from seg.models.propainter import (ProPainterCheckpointError, ProPainterGenerator, load_propainter_generator,
                                   propainter_generator_state_dict)
from seg.registry import MODELS

HEIGHT, WIDTH = 32, 48


@pytest.fixture(scope='module')
def generator():
    torch.manual_seed(0)
    return ProPainterGenerator()


def clip(num_frames=4, num_local=2, height=HEIGHT, width=WIDTH, batch=1, seed=0):
    """Random frames, one rectangular hole per frame, local flows of a few pixels."""
    gen = torch.Generator().manual_seed(seed)
    frames = torch.rand(batch, num_frames, 3, height, width, generator=gen) * 2 - 1
    masks = torch.zeros(batch, num_frames, 1, height, width)
    masks[..., height // 4:height // 2, width // 4:width // 2] = 1
    flows = tuple(torch.randn(batch, num_local - 1, 2, height, width, generator=gen) * 2 for _ in range(2))
    return frames * (1 - masks), flows, masks


def test_state_dict_is_the_official_layout(generator):
    state = generator.state_dict()
    buffers = dict(generator.named_buffers())
    assert len(state) == 216 and len(list(generator.parameters())) == 208
    assert sorted(buffers) == [f'transformers.transformer.{i}.attention.valid_ind_rolled' for i in range(8)]
    assert all(b.dtype == torch.int64 and b.shape == (148,) for b in buffers.values())
    assert not any(k.startswith('img_prop_module') for k in state)
    assert state['encoder.layers.0.weight'].shape == (64, 5, 3, 3)
    assert state['feat_prop_module.deform_align.backward_1.conv_offset.0.weight'].shape == (128, 261, 3, 3)
    assert state['feat_prop_module.deform_align.forward_1.conv_offset.6.weight'].shape == (432, 128, 3, 3)
    assert state['sc.bias_conv.weight'].shape == (128, 128, 3, 3)
    assert state['transformers.transformer.7.mlp.fc1.0.weight'].shape == (1960, 512)
    assert isinstance(MODELS.build(dict(type='ProPainterGenerator', init_weights=False)), ProPainterGenerator)


def test_eval_decodes_the_local_frames_and_train_all_frames(generator):
    frames, flows, masks = clip(num_frames=4, num_local=2)
    generator.eval()
    with torch.no_grad():
        pred = generator(frames, flows, masks, masks, 2)
    assert pred.shape == (1, 2, 3, HEIGHT, WIDTH)
    assert pred.abs().max() <= 1 and torch.isfinite(pred).all()
    generator.train()
    try:
        with torch.no_grad():
            train_pred = generator(frames, flows, masks, masks, 2)
    finally:
        generator.eval()
    assert train_pred.shape == (1, 4, 3, HEIGHT, WIDTH)


def test_a_batch_matches_its_samples_run_alone(generator):
    frames, flows, masks = clip(num_frames=3, num_local=2, batch=2)
    masks[1, :, :, :4] = 1  # a different hole, so that the two samples mask different token windows
    with torch.no_grad():
        both = generator.eval()(frames, flows, masks, masks, 2)
        alone = [generator(frames[i:i + 1], tuple(f[i:i + 1] for f in flows), masks[i:i + 1], masks[i:i + 1], 2)
                 for i in range(2)]
    torch.testing.assert_close(both, torch.cat(alone), rtol=1e-5, atol=1e-6)


def test_image_propagation_leaves_clips_without_holes_unchanged(generator):
    frames, _, masks = clip(num_frames=3)
    flows = tuple(torch.randn(1, 2, 2, HEIGHT, WIDTH) * 3 for _ in range(2))
    no_hole = torch.zeros_like(masks)
    prop_frames, prop_masks = generator.img_propagation(frames, flows, no_hole)
    assert torch.equal(prop_frames, frames) and not prop_masks.any()


def test_image_propagation_fills_from_neighbours_and_never_grows_the_hole(generator):
    frames, _, masks = clip(num_frames=3)
    filled_source = torch.rand_like(frames) * 2 - 1
    frames[:, 1] = filled_source[:, 1]
    masks[:, 1] = 0  # frame 1 has no hole: with zero flow its pixels fill the holes of frames 0 and 2
    zero = torch.zeros(1, 2, 2, HEIGHT, WIDTH)
    prop_frames, prop_masks = generator.img_propagation(frames, (zero, zero), masks)
    assert not prop_masks.any()
    hole = masks[0, 0, 0].bool()
    assert torch.equal(prop_frames[0, 0][:, hole], frames[0, 1][:, hole])
    assert torch.equal(prop_frames[0, 2][:, hole], frames[0, 1][:, hole])
    assert torch.equal(prop_frames[0, :, :, ~hole], frames[0, :, :, ~hole])

    flows = tuple(torch.randn(1, 2, 2, HEIGHT, WIDTH) * 4 for _ in range(2))
    _, masks_random = clip(num_frames=3, seed=1)[::2]
    masks_random = (torch.rand_like(masks_random) > 0.7).float()
    prop_frames, prop_masks = generator.img_propagation(frames * (1 - masks_random), flows, masks_random)
    assert (prop_masks <= masks_random).all()
    keep = masks_random == 0
    assert torch.equal(prop_frames[keep.expand_as(frames)], (frames * (1 - masks_random))[keep.expand_as(frames)])


def test_frame_sizes_must_be_multiples_of_4(generator):
    frames, flows, masks = clip(height=52, width=60)  # not multiples of 8, and a 5x7 token grid padded inside
    with torch.no_grad():
        assert generator.eval()(frames, flows, masks, masks, 2).shape == (1, 2, 3, 52, 60)
    frames, flows, masks = clip(height=50, width=60)
    with pytest.raises(ValueError, match=r'multiples of 4.*50x60.*52x60'):
        generator(frames, flows, masks, masks, 2)


def test_bad_settings_raise(generator):
    frames, flows, masks = clip(num_frames=4, num_local=2)
    with pytest.raises(ValueError, match='t_dilation'):
        generator(frames, flows, masks, masks, 2, t_dilation=3)
    with pytest.raises(ValueError, match='local frames'):
        generator(frames, flows, masks, masks, 3)
    with pytest.raises(ValueError, match='num_local_frames'):
        generator(frames, flows, masks, masks, 5)
    with pytest.raises(ValueError, match='masks_updated'):
        generator(frames, flows, masks, masks[:, :2], 2)


def test_moves_to_the_meta_device():
    generator = ProPainterGenerator(init_weights=False).to('meta')
    assert all(p.device.type == 'meta' for p in generator.parameters())
    assert all(b.device.type == 'meta' for b in generator.buffers())


def test_loads_released_and_training_checkpoints(tmp_path, generator):
    state = generator.state_dict()
    released = tmp_path / 'ProPainter.pth'
    torch.save({f'module.{k}': v for k, v in state.items()}, released)
    trained = tmp_path / 'iter_10.pth'
    torch.save({'state_dict': {**{f'generator.{k}': v for k, v in state.items()},
                               'discriminator.conv.10.bias': torch.zeros(128)}, 'meta': {'iter': 10}}, trained)
    for path in (released, trained):
        loaded = load_propainter_generator(str(path))
        assert not loaded.training
        for key, value in loaded.state_dict().items():
            assert torch.equal(value, state[key]), key
    assert list(propainter_generator_state_dict(dict(state))) == list(state)


def test_load_errors_name_the_file_and_the_keys(tmp_path):
    missing = tmp_path / 'nowhere.pth'
    with pytest.raises(ProPainterCheckpointError, match=r'nowhere\.pth.*checkpoints/propainter/ProPainter\.pth'):
        load_propainter_generator(str(missing))
    state = ProPainterGenerator(init_weights=False).state_dict()
    state.pop('decoder.6.bias')
    state['decoder.7.bias'] = torch.zeros(3)
    wrong = tmp_path / 'wrong.pth'
    torch.save(state, wrong)
    with pytest.raises(InputError, match=r'wrong\.pth.*decoder\.6\.bias.*decoder\.7\.bias.*ProPainter\.pth'):
        load_propainter_generator(str(wrong))
    state['decoder.6.bias'] = torch.zeros(4)
    del state['decoder.7.bias']
    torch.save(state, wrong)
    with pytest.raises(ProPainterCheckpointError, match=r'wrong\.pth.*decoder\.6\.bias'):
        load_propainter_generator(str(wrong))
