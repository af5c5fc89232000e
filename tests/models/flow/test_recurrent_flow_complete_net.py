"""RecurrentFlowCompleteNet (ProPainter's flow completion): layout, semantics, loading and training behaviour."""
import pytest
import torch

from seg.fileio.errors import InputError
from seg.models.flow import FlowCompletionCheckpointError, RecurrentFlowCompleteNet, load_flow_completion
from seg.registry import MODELS

B, T, H, W = 1, 4, 16, 24


def random_net(seed: int = 0) -> RecurrentFlowCompleteNet:
    """A net with every parameter random and non-zero (the last offset convs start at zero otherwise).

    Weights are N(0, 1/fan_in) and biases N(0, 0.1^2), so activations stay O(1) and nothing saturates.
    """
    torch.manual_seed(seed)
    net = RecurrentFlowCompleteNet()
    with torch.no_grad():
        for param in net.parameters():
            fan_in = param[0].numel() if param.dim() > 1 else 100
            param.copy_(torch.randn_like(param) / fan_in ** 0.5)
    return net


def clip(seed: int = 1, frames: int = T, height: int = H, width: int = W):
    """(flows_forward, flows_backward) (B, frames-1, 2, h, w) and masks (B, frames, 1, h, w), one hole per frame."""
    generator = torch.Generator().manual_seed(seed)
    flows = tuple(3 * torch.randn(B, frames - 1, 2, height, width, generator=generator) for _ in range(2))
    masks = torch.zeros(B, frames, 1, height, width)
    for t in range(frames):  # a different hole in every frame, so the per-direction masks are told apart
        masks[:, t, :, 2 + t:8 + t, 3 * t:3 * t + 7] = 1
    return flows, masks


@pytest.fixture(scope='module')
def net() -> RecurrentFlowCompleteNet:
    return random_net().eval()


def test_state_dict_is_the_official_layout():
    net = RecurrentFlowCompleteNet()
    state = net.state_dict()
    assert len(state) == len(list(net.parameters())) == 74 and not list(net.buffers())
    assert state['feat_prop_module.deform_align.backward_.conv_offset.6.weight'].shape == (432, 128, 3, 3)
    assert state['feat_prop_module.deform_align.forward_.weight'].shape == (128, 256, 3, 3)
    assert state['feat_prop_module.backbone.forward_.0.weight'].shape == (128, 384, 3, 3)
    assert state['downsample.0.weight'].shape == (32, 3, 1, 5, 5)
    assert state['encoder2.2.conv2.0.weight'].shape == (128, 128, 3, 1, 1)
    assert state['upsample.2.conv.weight'].shape == (2, 32, 3, 3)
    assert state['edgeDetector.out_layer.weight'].shape == (1, 16, 1, 1)
    # The offset networks start at zero (the official init): an untrained DCN samples the regular grid.
    assert not state['feat_prop_module.deform_align.forward_.conv_offset.6.weight'].any()


def test_builds_from_the_registry():
    assert isinstance(MODELS.build(dict(type='RecurrentFlowCompleteNet')), RecurrentFlowCompleteNet)


def test_eval_returns_no_edges_and_train_the_same_flows_with_edges(net):
    flows, masks = clip()
    with torch.no_grad():
        (pred_f, pred_b), edges = net.eval().forward_bidirect_flow(flows, masks)
        assert edges == (None, None)
        assert pred_f.shape == pred_b.shape == (B, T - 1, 2, H, W)
        (train_f, train_b), (edges_f, edges_b) = net.train().forward_bidirect_flow(flows, masks)
        single_flows, single_edges = net(flows[0] * (1 - masks[:, :-1]), masks[:, :-1])
    net.eval()
    assert torch.equal(train_f, pred_f) and torch.equal(train_b, pred_b)
    assert edges_f.shape == edges_b.shape == (B, T - 1, 1, H, W)
    assert 0 < edges_f.min() and edges_f.max() < 1
    assert single_edges.shape == (B, T - 1, 1, H, W) and torch.equal(single_flows, pred_f)


def test_combine_flow_keeps_the_input_outside_the_holes(net):
    flows, masks = clip()
    with torch.no_grad():
        pred, _ = net.forward_bidirect_flow(flows, masks)
    combined = net.combine_flow(flows, pred, masks)
    # Forward flow i starts from frame i, backward flow i from frame i+1.
    for flow, predicted, result, hole in zip(flows, pred, combined, (masks[:, :-1], masks[:, 1:])):
        hole = hole.expand_as(flow).bool()
        assert torch.equal(result[~hole], flow[~hole])
        assert torch.equal(result[hole], predicted[hole])
        assert not torch.equal(result[hole], flow[hole])


def test_flow_values_inside_the_holes_are_ignored(net):
    flows, masks = clip()
    garbage = tuple(flow + 100 * mask.expand_as(flow) for flow, mask in zip(flows, (masks[:, :-1], masks[:, 1:])))
    with torch.no_grad():
        pred, _ = net.forward_bidirect_flow(flows, masks)
        pred_garbage, _ = net.forward_bidirect_flow(garbage, masks)
    assert torch.equal(pred[0], pred_garbage[0]) and torch.equal(pred[1], pred_garbage[1])


def test_reversing_the_clip_swaps_the_directions(net):
    """The backward flows are completed on the time-reversed sequence and flipped back."""
    flows, masks = clip()
    reversed_flows = (flows[1].flip(1), flows[0].flip(1))
    with torch.no_grad():
        pred, _ = net.forward_bidirect_flow(flows, masks)
        pred_reversed, _ = net.forward_bidirect_flow(reversed_flows, masks.flip(1))
    torch.testing.assert_close(pred_reversed[1], pred[0].flip(1), rtol=0, atol=1e-6)
    torch.testing.assert_close(pred_reversed[0], pred[1].flip(1), rtol=0, atol=1e-6)
    # The network is not symmetric in time: without the flips the directions would differ.
    assert (pred[0] - pred[0].flip(1)).abs().max() > 1e-2


@pytest.mark.parametrize('size', [(20, 24), (16, 28), (12, 12)])
def test_sizes_not_multiple_of_8_raise(net, size):
    flows, masks = clip(height=size[0], width=size[1])
    with pytest.raises(ValueError, match=rf'multiples of 8; got {size[0]}x{size[1]}'):
        net.forward_bidirect_flow(flows, masks)
    with pytest.raises(ValueError, match='multiples of 8'):
        net(flows[0], masks[:, :-1])


def test_mismatched_shapes_raise(net):
    flows, masks = clip()
    with pytest.raises(ValueError, match=r'masks of shape \(1, 4, 1, 16, 24\)'):
        net.forward_bidirect_flow(flows, masks[:, :-1])
    with pytest.raises(ValueError, match='one shape'):
        net.forward_bidirect_flow((flows[0], flows[1][:, :-1]), masks)
    with pytest.raises(ValueError, match=r'masks of shape \(1, 3, 1, 16, 24\)'):
        net(flows[0], masks)


def test_gradients_reach_every_parameter_in_train_mode():
    net = random_net(seed=3).train()
    flows, masks = clip(seed=4)
    (pred_f, pred_b), (edges_f, edges_b) = net.forward_bidirect_flow(flows, masks)
    (pred_f.abs().mean() + pred_b.abs().mean() + edges_f.mean() + edges_b.mean()).backward()
    dead = [name for name, param in net.named_parameters() if param.grad is None or not param.grad.abs().sum() > 0]
    assert dead == []


def test_moves_to_the_meta_device():
    net = RecurrentFlowCompleteNet().to(torch.device('meta'))
    assert all(param.device.type == 'meta' for param in net.parameters())
    assert all(buffer.device.type == 'meta' for buffer in net.buffers())


def _assert_same_weights(loaded: RecurrentFlowCompleteNet, source: RecurrentFlowCompleteNet) -> None:
    expected = source.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in loaded.state_dict().items())


def test_loads_plain_ddp_and_training_checkpoints(tmp_path):
    source = random_net(seed=5)
    state = source.state_dict()
    variants = {
        'plain.pth': state,
        'ddp.pth': {f'module.{key}': value for key, value in state.items()},
        'train.pth': dict(meta=dict(epoch=3), state_dict={
            **{f'flow_net.{key}': value for key, value in state.items()},
            'loss_weight_buffer': torch.ones(1)}),
    }
    for name, checkpoint in variants.items():
        torch.save(checkpoint, tmp_path / name)
        loaded = load_flow_completion(tmp_path / name)
        assert not loaded.training, name
        _assert_same_weights(loaded, source)
    torch.save(dict(state_dict={f'stage1.net.{key}': value for key, value in state.items()}), tmp_path / 'other.pth')
    _assert_same_weights(load_flow_completion(tmp_path / 'other.pth', prefix='stage1.net.'), source)


def test_missing_file_names_the_expected_release_file(tmp_path):
    with pytest.raises(FlowCompletionCheckpointError, match=r'nowhere\.pth not found[\s\S]*'
                       r'checkpoints/propainter/recurrent_flow_completion\.pth') as err:
        load_flow_completion(tmp_path / 'nowhere.pth')
    assert isinstance(err.value, InputError)


def test_mismatched_keys_are_named(tmp_path):
    state = RecurrentFlowCompleteNet().state_dict()
    state.pop('edgeDetector.out_layer.bias')
    state['extra.weight'] = torch.zeros(1)
    torch.save(state, tmp_path / 'bad.pth')
    with pytest.raises(FlowCompletionCheckpointError) as err:
        load_flow_completion(tmp_path / 'bad.pth')
    message = str(err.value)
    assert 'bad.pth' in message and 'edgeDetector.out_layer.bias' in message and 'extra.weight' in message
    assert 'recurrent_flow_completion.pth' in message


def test_a_wrong_prefix_and_a_non_state_dict_are_refused(tmp_path):
    torch.save(dict(state_dict=RecurrentFlowCompleteNet().state_dict()), tmp_path / 'net.pth')
    with pytest.raises(FlowCompletionCheckpointError, match=r"no weights under the prefix 'generator\.'"):
        load_flow_completion(tmp_path / 'net.pth', prefix='generator.')
    torch.save([torch.zeros(1)], tmp_path / 'list.pth')
    with pytest.raises(FlowCompletionCheckpointError, match=r'list\.pth holds a list, not a state dict'):
        load_flow_completion(tmp_path / 'list.pth')
