"""LiteDFPN: YOSONeck's weights and outputs at YOSO's settings, other pyramids, config errors, devices."""
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope

from seg.parity import compare_outputs, fixture_state_dict, load_fixture
from seg.registry import MODELS

REPO = Path(__file__).resolve().parents[3]
RAPSAM_NECK_FIXTURE = REPO.parent / 'shared' / 'parity' / 'fixtures' / 'rapsam_neck.pt'

#: YOSO's settings at toy widths: four levels at strides 4, 8, 16, 32, coordinates on, SyncBN.
YOSO_WIDTHS = dict(agg_dim=16, hidden_dim=32)
YOSO_LEVELS = [16, 32, 64, 128]
#: ResNet-18's outputs (channels, stride) with ``out_indices=(0, 1, 2, 3)``.
RESNET18_LEVELS = [(64, 4), (128, 8), (256, 16), (512, 32)]


def build(cfg: dict, seed: int = 0):
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('seg'):
        return MODELS.build(cfg)


def pyramid(levels, height: int, width: int, batch: int = 2):
    """Random backbone outputs (B, C, H/s, W/s) for (channels, stride) pairs."""
    return [torch.randn(batch, c, height // s, width // s) for c, s in levels]


def test_yoso_settings_are_yoso_neck():
    yoso = build(dict(type='YOSONeck', backbone_shape=YOSO_LEVELS, **YOSO_WIDTHS))
    ours = build(dict(type='LiteDFPN', in_channels=YOSO_LEVELS, **YOSO_WIDTHS), seed=1)
    theirs = yoso.state_dict()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in theirs.items()]
    ours.load_state_dict(theirs, strict=True)

    feats = pyramid(zip(YOSO_LEVELS, (4, 8, 16, 32)), 64, 96)
    with torch.no_grad():
        expected = yoso.eval()(feats)
        got = ours.eval()(feats)
    assert got.shape == (2, YOSO_WIDTHS['hidden_dim'], 16, 24)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_official_rapsam_neck_weights_load_strict_and_match():
    if not RAPSAM_NECK_FIXTURE.is_file():
        pytest.skip(f'parity fixture {RAPSAM_NECK_FIXTURE} not found')
    fixture = load_fixture(RAPSAM_NECK_FIXTURE)
    state = fixture_state_dict(fixture)
    hidden_dim, agg_dim_with_coords = state['loc_conv.weight'].shape[:2]
    in_channels = [state[f'deconv.lateral_conv{j}.weight'].shape[1] for j in (3, 2, 1, 0)]
    neck = build(dict(type='LiteDFPN', in_channels=in_channels, agg_dim=agg_dim_with_coords - 2,
                      hidden_dim=hidden_dim)).eval()
    neck.load_state_dict(state, strict=True)
    with torch.no_grad():
        features = neck([fixture['inputs'][k].float() for k in ('c2', 'c3', 'c4', 'c5')])
    ok, checks = compare_outputs(dict(features=features), fixture)
    assert ok, {key: check.max_abs_diff for key, check in checks.items()}


def test_yoso_settings_initialise_like_yoso_neck():
    yoso = build(dict(type='YOSONeck', backbone_shape=YOSO_LEVELS, **YOSO_WIDTHS))
    ours = build(dict(type='LiteDFPN', in_channels=YOSO_LEVELS, **YOSO_WIDTHS))
    for (name, theirs), mine in zip(yoso.state_dict().items(), ours.state_dict().values()):
        assert torch.equal(mine, theirs), name


@pytest.mark.parametrize('cfg,read_strides', [
    # ResNet-18's three coarser levels, GN, other widths.
    (dict(in_channels=[128, 256, 512], in_indices=[1, 2, 3], agg_dim=24, hidden_dim=40,
          norm_cfg=dict(type='GN', num_groups=8)), (8, 16, 32)),
    # A backbone emitting only strides 16 and 32, no coordinates.
    (dict(in_channels=[256, 512], in_strides=[16, 32], agg_dim=8, hidden_dim=12, with_coords=False), (16, 32)),
], ids=['resnet18-c3c5-gn', 'two-levels-no-coords'])
def test_other_pyramids_build_from_config_and_train(cfg, read_strides):
    neck = build(dict(type='LiteDFPN', **cfg)).train()
    if 'in_indices' in cfg:
        feats = pyramid(RESNET18_LEVELS, 64, 96)
    else:
        feats = pyramid(zip(cfg['in_channels'], read_strides), 64, 96)
    projections = sorted(k for k in neck.state_dict() if k.startswith('deconv.conv_a'))
    assert projections == [f'deconv.conv_a{s.bit_length() - 1}.weight' for s in read_strides]  # log2(stride)

    out = neck(feats)
    assert out.shape == (2, cfg['hidden_dim'], 16, 24)
    assert neck.loc_conv.in_channels == cfg['agg_dim'] + (2 if cfg.get('with_coords', True) else 0)
    out.square().mean().backward()
    no_grad = [name for name, p in neck.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []


@pytest.mark.parametrize('bad,field', [
    (dict(in_channels=[128, 256, 512], in_indices=[0, 1, 2, 3]), 'in_indices'),
    (dict(in_channels=[128, 256, 512], in_indices=[1, 3, 2]), 'in_indices'),
    (dict(in_channels=[128, 256, 512], in_strides=[8, 16]), 'in_strides'),
    (dict(in_channels=[128, 256, 512], in_strides=[8, 16, 64]), 'in_strides'),
    (dict(in_channels=[128, 256, 512], in_strides=[2, 4, 8]), 'in_strides'),
    (dict(in_channels=[512]), 'in_channels'),
])
def test_bad_config_names_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        build(dict(type='LiteDFPN', agg_dim=8, hidden_dim=8, **bad))


def test_every_buffer_and_parameter_follows_to_meta():
    neck = build(dict(type='LiteDFPN', in_channels=YOSO_LEVELS, **YOSO_WIDTHS)).to(torch.device('meta'))
    tensors = dict(neck.named_parameters()) | dict(neck.named_buffers())
    assert 'deconv.deform_conv1.dcn_bn.running_mean' in tensors and 'loc_conv.weight' in tensors
    assert {name for name, t in tensors.items() if t.device.type != 'meta'} == set()
