"""RAFT, its checkpoint loading and BidirectionalRAFT (random weights; parity lives in tests/parity)."""
import pytest
import torch
import torch.nn as nn

from seg.fileio.errors import InputError
from seg.models.flow import RAFT, BidirectionalRAFT, RAFTCheckpointError, load_raft, raft_state_dict
from seg.registry import MODELS


def images(n: int = 1, height: int = 128, width: int = 128, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 3, height, width, generator=generator) * 2 - 1 for _ in range(2)]


@pytest.fixture(scope='module')
def small_raft() -> RAFT:
    torch.manual_seed(0)
    return RAFT(small=True).eval()


def test_raft_small_layout_and_run(small_raft):
    state = small_raft.state_dict()
    assert state['update_block.encoder.convc1.weight'].shape == (96, 4 * 7 ** 2, 1, 1)  # 4 levels, radius 3
    assert state['update_block.gru.convz.weight'].shape == (96, 96 + 64 + 82, 3, 3)
    assert state['cnet.conv2.weight'].shape == (96 + 64, 96, 1, 1)
    assert 'fnet.layer2.0.conv3.weight' in state and 'fnet.layer2.0.downsample.0.weight' in state
    assert not any(key.startswith('update_block.mask.') for key in state)
    assert sum(p.numel() for p in small_raft.parameters()) == 990162  # the published raft-small's 1.0M
    with torch.no_grad():
        flow_low, flow_up = small_raft(*images(2), iters=3, test_mode=True)
        predictions = small_raft(*images(2), iters=3)
    assert flow_low.shape == (2, 2, 16, 16) and flow_up.shape == (2, 2, 128, 128)
    assert torch.isfinite(flow_up).all() and flow_up.abs().max() > 0
    assert len(predictions) == 3 and torch.equal(predictions[-1], flow_up)


def test_raft_things_layout():
    state = RAFT().state_dict()
    assert len(state) == 179 - 5 * 2  # the official 179 entries less the second name of two aliased BatchNorms
    assert sum(p.numel() for p in RAFT().parameters()) == 5257536  # the published raft-things' 5.3M
    assert state['update_block.mask.2.weight'].shape == (8 * 8 * 9, 256, 1, 1)
    assert state['update_block.encoder.convc1.weight'].shape == (256, 4 * 9 ** 2, 1, 1)  # 4 levels, radius 4
    assert 'cnet.layer2.0.downsample.1.running_mean' in state and 'cnet.layer2.0.norm3.weight' not in state
    assert not any(key.startswith('fnet.') and 'norm' in key for key in state)  # InstanceNorm, no affine


def test_flow_init_of_zero_is_no_init(small_raft):
    image1, image2 = images()
    with torch.no_grad():
        _, plain = small_raft(image1, image2, iters=2, test_mode=True)
        _, zero_init = small_raft(image1, image2, iters=2, flow_init=torch.zeros(1, 2, 16, 16), test_mode=True)
        _, shifted = small_raft(image1, image2, iters=2, flow_init=torch.ones(1, 2, 16, 16), test_mode=True)
    assert torch.equal(plain, zero_init) and not torch.allclose(plain, shifted)


def test_dropout_acts_in_training_only():
    torch.manual_seed(0)
    model = RAFT(small=True, dropout=0.5)
    assert isinstance(model.fnet.dropout, nn.Dropout2d) and isinstance(model.cnet.dropout, nn.Dropout2d)
    image1, image2 = images()
    model.eval()
    with torch.no_grad():
        first, second = (model(image1, image2, iters=1, test_mode=True)[1] for _ in range(2))
    assert torch.equal(first, second)
    model.train()
    with torch.no_grad():
        first, second = (model(image1, image2, iters=1, test_mode=True)[1] for _ in range(2))
    assert not torch.equal(first, second)


@pytest.mark.parametrize('size', [(64, 96), (128, 132), (120, 256)])
def test_raft_refuses_sizes_it_cannot_handle(small_raft, size):
    with pytest.raises(ValueError, match='multiples of 8 and at least 128'):
        small_raft(*images(1, *size), iters=1)


def test_raft_moves_to_the_meta_device():
    for model in (RAFT(), BidirectionalRAFT(raft=dict(type='RAFT', small=True))):
        model.to(torch.device('meta'))
        assert all(p.device.type == 'meta' for p in model.parameters())
        assert all(b.device.type == 'meta' for b in model.buffers())


def test_converter_reads_either_name_of_the_aliased_norm():
    state = RAFT().state_dict()
    name = 'cnet.layer3.0.downsample.1.running_var'
    alias = 'cnet.layer3.0.norm3.running_var'
    # Both names, different values: the official load writes downsample.1 last, so its value wins.
    both = dict(state, **{alias: torch.full_like(state[name], 7.0), name: torch.full_like(state[name], 3.0)})
    converted = raft_state_dict(both)
    assert alias not in converted and torch.equal(converted[name], torch.full_like(state[name], 3.0))
    # Only the norm3 name: it is renamed.
    only_alias = {(alias if key == name else key): value for key, value in state.items()}
    assert set(raft_state_dict(only_alias)) == set(state)


def test_load_raft_names_a_missing_file(tmp_path):
    path = tmp_path / 'raft-things.pth'
    with pytest.raises(RAFTCheckpointError, match='not found.*checkpoints/propainter/raft-things.pth') as info:
        load_raft(path)
    assert isinstance(info.value, InputError) and str(path) in str(info.value)


def test_load_raft_names_mismatched_keys(tmp_path):
    path = tmp_path / 'raft-small.pth'
    torch.save({f'module.{key}': value for key, value in RAFT(small=True).state_dict().items()}, path)
    with pytest.raises(RAFTCheckpointError) as info:
        load_raft(path)
    message = str(info.value)
    assert str(path) in message and 'raft-things.pth' in message and 'small=True' in message
    assert 'missing' in message and 'unexpected' in message
    assert load_raft(path, small=True).small


def test_load_raft_refuses_a_file_without_weights(tmp_path):
    path = tmp_path / 'notes.pth'
    torch.save(['not', 'a', 'state_dict'], path)
    with pytest.raises(RAFTCheckpointError, match=f'{path}.*no state_dict.*raft-things'):
        load_raft(path)


@pytest.fixture(scope='module')
def bidirectional(small_raft) -> BidirectionalRAFT:
    return BidirectionalRAFT(raft=small_raft, iters=2, chunk_size=None).eval()


def test_bidirectional_flows_are_raft_of_each_pair(bidirectional, small_raft):
    frames = torch.rand(2, 3, 3, 128, 136, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        flows_forward, flows_backward = bidirectional(frames)
        _, forward_01 = small_raft(frames[1, 0:1], frames[1, 1:2], iters=2, test_mode=True)
        _, backward_12 = small_raft(frames[0, 2:3], frames[0, 1:2], iters=2, test_mode=True)
    assert flows_forward.shape == flows_backward.shape == (2, 2, 2, 128, 136)
    torch.testing.assert_close(flows_forward[1, 0], forward_01[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(flows_backward[0, 1], backward_12[0], rtol=1e-4, atol=1e-4)


def test_chunking_does_not_change_the_flows(bidirectional, small_raft):
    frames = torch.rand(1, 4, 3, 128, 128, generator=torch.Generator().manual_seed(2)) * 2 - 1
    chunked = BidirectionalRAFT(raft=small_raft, iters=2, chunk_size=2)
    with torch.no_grad():
        whole, pieces = bidirectional(frames), chunked(frames)
    for one, other in zip(whole, pieces):
        torch.testing.assert_close(one, other, rtol=1e-4, atol=1e-4)


def test_small_frames_give_finite_flows(bidirectional):
    frames = torch.rand(1, 3, 3, 64, 96, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        flows = bidirectional(frames)
    for flow in flows:
        assert flow.shape == (1, 2, 2, 64, 96) and torch.isfinite(flow).all()


@pytest.mark.parametrize('size, expected', [((128, 192), (128, 192, 128, 192)), ((130, 250), (130, 250, 136, 256)),
                                            ((64, 96), (128, 192, 128, 192)), ((100, 50), (256, 128, 256, 128)),
                                            ((60, 90), (128, 192, 128, 192)), ((90, 129), (128, 184, 128, 184))])
def test_processing_size(size, expected):
    assert BidirectionalRAFT.processing_size(*size) == expected


class PixelPositionFlow(nn.Module):
    """Stands in for RAFT: the flow at each processed pixel is (its column + 0.5, 2 · (its row + 0.5))."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, image1, image2, iters, test_mode):
        self.calls.append((image1.shape, iters, test_mode))
        n, _, height, width = image1.shape
        rows, columns = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing='ij')
        return None, torch.stack([columns, 2 * rows])[None].repeat(n, 1, 1, 1)


def test_padding_is_cropped_off_the_bottom_right():
    stand_in = PixelPositionFlow()
    model = BidirectionalRAFT(raft=stand_in, iters=5, chunk_size=3)
    flows_forward, flows_backward = model(torch.zeros(1, 3, 3, 130, 250))
    assert [call[0] for call in stand_in.calls] == [(3, 3, 136, 256), (1, 3, 136, 256)]  # 4 directed pairs
    assert all(call[1:] == (5, True) for call in stand_in.calls)
    for flows in (flows_forward, flows_backward):
        assert torch.equal(flows[0, 1, 0, 0], torch.arange(250) + 0.5)
        assert torch.equal(flows[0, 1, 1, :, 0], 2 * (torch.arange(130) + 0.5))


def test_upsampled_flow_is_mapped_back_with_rescaled_magnitudes():
    """64x96 runs at 128x192: pixel centres map back, and x, y lengths halve."""
    flows_forward, _ = BidirectionalRAFT(raft=PixelPositionFlow())(torch.zeros(1, 2, 3, 64, 96))
    torch.testing.assert_close(flows_forward[0, 0, 0, 5], torch.arange(96) + 0.5)
    torch.testing.assert_close(flows_forward[0, 0, 1, :, 7], 2 * (torch.arange(64) + 0.5))


def test_bidirectional_raft_builds_from_config():
    model = MODELS.build(dict(type='BidirectionalRAFT', raft=dict(type='RAFT', small=True), iters=3, chunk_size=4))
    assert isinstance(model.raft, RAFT) and model.raft.small and model.iters == 3 and model.chunk_size == 4
    assert BidirectionalRAFT().iters == 20
    with pytest.raises(ValueError, match='T >= 2'):
        model(torch.zeros(1, 1, 3, 128, 128))


def test_training_gradients_reach_both_encoders():
    """Look-up positions are detached each iteration, but the correlation values still carry fnet's gradient."""
    torch.manual_seed(0)
    model = RAFT(small=True).train()
    predictions = model(*images(), iters=2)
    sum(prediction.abs().mean() for prediction in predictions).backward()
    assert model.fnet.conv1.weight.grad.abs().sum() > 0 and model.cnet.conv1.weight.grad.abs().sum() > 0
