"""E2FGVI generators, their layers, SPyNet, mirror padding and the temporal PatchGAN discriminator."""
from pathlib import Path

import pytest
import torch

from seg.models.flow import SPyNet, flow_warp
from seg.models.e2fgvi import E2FGVIGenerator, E2FGVIHQGenerator
from seg.models.inpainters import (TemporalPatchDiscriminator,
                                   mirror_pad_to_multiple)
from seg.models.e2fgvi.second_order_deform_propagation import SecondOrderDeformPropagation
from seg.models.layers import SoftComp, SoftSplit
from seg.models.e2fgvi.temporal_focal_transformer_block import TemporalFocalWindowAttention, window_partition
from seg.parity import load_fixture
from seg.registry import MODELS

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO.parent / 'shared' / 'parity' / 'fixtures'
GENERATORS = {'e2fgvi': E2FGVIGenerator, 'e2fgvi_hq': E2FGVIHQGenerator}


def fixture_or_skip(kind: str) -> dict:
    path = FIXTURES / f'{kind}.pt'
    if not path.is_file():
        pytest.skip(f'parity fixture {path} not found')
    return load_fixture(path)


@pytest.fixture(scope='module')
def hq_generator():
    torch.manual_seed(0)
    return E2FGVIHQGenerator().eval()


@pytest.mark.parametrize('kind', sorted(GENERATORS))
def test_state_dict_is_the_official_layout(kind):
    fixture = fixture_or_skip(kind)
    state = GENERATORS[kind](init_weights=False).state_dict()
    assert list(state) == [entry['name'] for entry in fixture['manifest']]
    for entry in fixture['manifest']:
        assert list(state[entry['name']].shape) == entry['shape'], entry['name']
        assert str(state[entry['name']].dtype) == f'torch.{entry["dtype"]}', entry['name']
    for name, value in fixture['buffers'].items():  # valid_ind_rolled (int64) and SPyNet's mean/std
        assert torch.equal(state[name], value), name


def test_generators_build_from_config():
    assert isinstance(MODELS.build(dict(type='E2FGVIHQGenerator', init_weights=False)), E2FGVIHQGenerator)
    assert E2FGVIGenerator.fixed_size == (240, 432)
    assert E2FGVIHQGenerator.size_divisor == (60, 108)


@pytest.mark.parametrize('size', [(120, 216), (240, 428), (480, 864)])
def test_e2fgvi_rejects_other_sizes(size):
    generator = E2FGVIGenerator(init_weights=False).eval()
    with pytest.raises(ValueError, match='Resize the frames to 432x240 .* or use E2FGVIHQGenerator'):
        generator(torch.zeros(1, 2, 3, *size), 2)


@pytest.mark.parametrize('size', [(128, 216), (120, 224), (112, 200)])
def test_e2fgvi_hq_rejects_sizes_not_divisible_by_60_108(hq_generator, size):
    with pytest.raises(ValueError, match='mirror_pad_to_multiple'):
        hq_generator(torch.zeros(1, 2, 3, *size), 2)


def test_bad_clip_shapes_and_local_counts_raise(hq_generator):
    with pytest.raises(ValueError, match=r'\(B, T, 3, H, W\)'):
        hq_generator(torch.zeros(2, 3, 60, 108), 2)
    with pytest.raises(ValueError, match=r'num_local_frames must be in \[1, T=2\]'):
        hq_generator(torch.zeros(1, 2, 3, 60, 108), 3)


def test_hq_runs_at_60x108_on_random_weights(hq_generator):
    frames = torch.rand(2, 3, 3, 60, 108) * 2 - 1
    with torch.no_grad():
        pred, (flow_forward, flow_backward) = hq_generator(frames, 2)
        single_pred, (no_flow, _) = hq_generator(frames[:1], 1)
    assert pred.shape == (6, 3, 60, 108)
    assert flow_forward.shape == flow_backward.shape == (2, 1, 2, 15, 27)
    assert torch.isfinite(pred).all() and pred.abs().max() <= 1
    assert not torch.equal(flow_forward, flow_backward)
    assert single_pred.shape == (3, 3, 60, 108) and no_flow.shape == (1, 0, 2, 15, 27)


def test_mirror_padding_reproduces_the_hq_fixture_input():
    fixture = fixture_or_skip('e2fgvi_hq')
    frames = fixture['inputs']['masked_frames']
    h, w = fixture['inputs']['orig_hw']
    assert torch.equal(mirror_pad_to_multiple(frames[..., :h, :w], E2FGVIHQGenerator.size_divisor), frames)


def test_mirror_padding_repeats_the_edge_and_keeps_exact_multiples():
    row = torch.tensor([[1.0, 2.0, 3.0]])
    assert mirror_pad_to_multiple(row, (1, 5)).tolist() == [[1, 2, 3, 3, 2]]
    assert mirror_pad_to_multiple(row, (1, 8)).tolist() == [[1, 2, 3, 3, 2, 1, 1, 2]]
    assert mirror_pad_to_multiple(row.t(), (4, 1)).flatten().tolist() == [1, 2, 3, 3]
    clip = torch.randn(1, 2, 3, 60, 108)
    assert torch.equal(mirror_pad_to_multiple(clip, (60, 108)), clip)
    with pytest.raises(ValueError, match='non-empty'):
        mirror_pad_to_multiple(torch.zeros(3, 0, 4), (60, 108))


def test_generator_moves_to_the_meta_device():
    generator = E2FGVIHQGenerator(init_weights=False).to(torch.device('meta'))
    assert all(p.device.type == 'meta' for p in generator.parameters())
    assert all(b.device.type == 'meta' for b in generator.buffers())
    assert generator.transformer[0].attn.valid_ind_rolled.dtype == torch.int64


def test_discriminator_scores_patches_with_the_official_layout():
    torch.manual_seed(0)
    discriminator = TemporalPatchDiscriminator().eval()
    assert list(discriminator.state_dict()) == [
        f'conv.{i}.weight_{part}' for i in (0, 2, 4, 6, 8) for part in ('orig', 'u', 'v')] + [
        'conv.10.weight', 'conv.10.bias']
    frames = torch.randn(2, 3, 3, 96, 160)
    assert discriminator(frames).shape == (2, 3, 128, 2, 3)
    with torch.no_grad():
        raw = discriminator(frames)
        discriminator.use_sigmoid = True
        assert torch.equal(discriminator(frames), torch.sigmoid(raw))
    plain = TemporalPatchDiscriminator(use_spectral_norm=False)
    assert 'conv.0.bias' in plain.state_dict() and 'conv.0.weight_orig' not in plain.state_dict()


def test_flow_warp_zero_flow_is_identity_and_integer_flow_shifts():
    x = torch.randn(1, 2, 5, 7)
    assert torch.allclose(flow_warp(x, torch.zeros(1, 5, 7, 2)), x, atol=1e-6)
    shift = torch.zeros(1, 5, 7, 2)
    shift[..., 0] = 1.0  # sample one pixel to the right
    torch.testing.assert_close(flow_warp(x, shift)[..., :-1], x[..., 1:])
    assert (flow_warp(x, shift)[..., -1] == 0).all()
    with pytest.raises(ValueError, match=r'\(N, H, W, 2\)'):
        flow_warp(x, torch.zeros(1, 2, 5, 7))


def test_spynet_flow_keeps_the_input_size():
    torch.manual_seed(0)
    spynet = SPyNet().eval()
    with torch.no_grad():
        flow = spynet(torch.rand(2, 3, 30, 54), torch.rand(2, 3, 30, 54))
    assert flow.shape == (2, 2, 30, 54)
    assert SPyNet.padded_size(30, 54) == (32, 64)


def test_spynet_loads_a_local_checkpoint_and_never_downloads(tmp_path):
    torch.manual_seed(0)
    source = SPyNet()
    weights = {k: v for k, v in source.state_dict().items() if k not in ('mean', 'std')}
    torch.save({'state_dict': weights}, tmp_path / 'spynet.pth')
    loaded = SPyNet(pretrained=str(tmp_path / 'spynet.pth'))
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in weights.items())
    with pytest.raises(FileNotFoundError, match='not found'):
        SPyNet(pretrained=str(tmp_path / 'missing.pth'))
    torch.save({'conv.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    with pytest.raises(KeyError, match='not a SPyNet checkpoint'):
        SPyNet(pretrained=str(tmp_path / 'other.pth'))


def test_propagation_reads_flows_like_the_official_code(monkeypatch):
    """Both passes take step s's flow from flows[:, s-1]: the backward pass uses them in reversed time order."""
    torch.manual_seed(0)
    propagation = SecondOrderDeformPropagation(16).eval()
    seen = {'backward_': [], 'forward_': []}
    for direction, align in propagation.deform_align.items():
        original = align.forward

        def record(x, cond, flow_n1, flow_n2, direction=direction, original=original):
            seen[direction].append((flow_n1, flow_n2))
            return original(x, cond, flow_n1, flow_n2)

        monkeypatch.setattr(align, 'forward', record)
    feats = torch.randn(1, 4, 16, 6, 8)
    flows_forward, flows_backward = torch.randn(1, 3, 2, 6, 8), torch.randn(1, 3, 2, 6, 8)
    with torch.no_grad():
        out = propagation(feats, flows_forward=flows_forward, flows_backward=flows_backward)
    assert out.shape == feats.shape
    for direction, flows in (('backward_', flows_forward), ('forward_', flows_backward)):
        assert [torch.equal(n1, flows[:, step]) for step, (n1, _) in enumerate(seen[direction])] == [True] * 3
        composed = flows[:, 1] + flow_warp(flows[:, 0], flows[:, 1].permute(0, 2, 3, 1))
        torch.testing.assert_close(seen[direction][1][1], composed)
        assert not seen[direction][0][1].any()  # no second-order flow at the first step


def test_surrounding_tokens_match_rolled_windows():
    """Gathered surroundings equal the official roll / partition / valid_ind_rolled construction."""
    attention = TemporalFocalWindowAttention(8, 2, (5, 9), (5, 9))
    eh, ew = attention.expand_size
    for h, w in ((10, 18), (20, 36)):
        x = torch.randn(1, 2, h, w, 8)
        rolled = torch.cat([window_partition(torch.roll(x, shifts=shift, dims=(2, 3)), (5, 9))
                            for shift in ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))], dim=2)
        want = rolled[:, :, attention.valid_ind_rolled]
        got = x.reshape(1, 2, h * w, 8)[:, :, attention.surrounding_indices(h, w).flatten()]
        got = got.view(1, 2, -1, want.shape[2], 8).transpose(1, 2).reshape(want.shape)
        assert torch.equal(got, want)


def test_soft_split_and_composition_shapes_and_fixed_bias_size():
    split = SoftSplit(4, 16, (7, 7), (3, 3), (3, 3))
    tokens = split(torch.randn(2 * 3, 4, 15, 27), 2)
    assert tokens.shape == (2, 3, 5, 9, 16)
    assert SoftComp(4, 16, (7, 7), (3, 3), (3, 3))(tokens, 3, (15, 27)).shape == (6, 4, 15, 27)
    fixed = SoftComp(4, 16, (7, 7), (3, 3), (3, 3), bias_size=(15, 27))
    assert fixed(tokens, 3, (15, 27)).shape == (6, 4, 15, 27)
    with pytest.raises(ValueError, match='bias_size=None'):
        fixed(tokens, 3, (30, 54))
