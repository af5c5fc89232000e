"""``import seg`` makes mmcv.ops (compiled or fallback) serve everything mmdet 3.3.0 imports from it."""
import ast
import importlib
from pathlib import Path

import pytest
import torch
from mmengine.config import ConfigDict

import seg  # noqa: F401
from seg.ops.backend import compiled_ops, describe_backend, select_backend
from seg.ops.fallback import MissingOpError

fallback_only = pytest.mark.skipif(compiled_ops() is not None, reason='compiled mmcv ops are the backend')

MMDET_NAMES = {
    'mmcv.ops': ['batched_nms', 'nms', 'nms_match', 'DeformConv2d', 'deform_conv2d', 'ModulatedDeformConv2d',
                 'point_sample', 'rel_roi_point_to_rel_img_point', 'MultiScaleDeformableAttention',
                 'roi_align', 'RoIPool', 'RoIAlign', 'sigmoid_focal_loss', 'CornerPool', 'CARAFEPack',
                 'MaskedConv2d'],
    'mmcv.ops.roi_align': ['roi_align'],
    'mmcv.ops.modulated_deform_conv': ['ModulatedDeformConv2d'],
    'mmcv.ops.carafe': ['CARAFEPack'],
    'mmcv.ops.nms': ['batched_nms'],
    'mmcv.ops.merge_cells': ['GlobalPoolingCell', 'SumCell', 'ConcatCell'],
}


def is_placeholder(obj) -> bool:
    return getattr(getattr(obj, '__init__', None), '__qualname__', '').startswith('missing_op.')


def test_mmdet_packages_import():
    for name in ('mmdet.models', 'mmdet.datasets', 'mmdet.evaluation', 'mmdet.apis'):
        importlib.import_module(name)
    assert select_backend() in ('mmcv', 'fallback')
    assert describe_backend().startswith(('compiled mmcv', 'FastSAM2 fallbacks'))


@pytest.mark.parametrize('module', sorted(MMDET_NAMES))
def test_listed_names_resolve(module):
    mod = importlib.import_module(module)
    for name in MMDET_NAMES[module]:
        assert not is_placeholder(getattr(mod, name)), f'{module}.{name}'


def test_every_mmcv_ops_import_in_mmdet_resolves():
    mmdet_dir = Path(importlib.util.find_spec('mmdet').origin).parent
    wanted = set()
    for path in mmdet_dir.rglob('*.py'):
        source = path.read_text(encoding='utf-8')
        if 'mmcv.ops' not in source:
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('mmcv.ops'):
                wanted.update((node.module, alias.name) for alias in node.names)
    assert ('mmcv.ops', 'batched_nms') in wanted and len(wanted) >= 15
    for module, name in sorted(wanted):
        assert not is_placeholder(getattr(importlib.import_module(module), name)), f'{module}.{name}'


@fallback_only
def test_fallback_is_installed_as_mmcv_ops():
    import mmcv
    import mmcv.ops
    from seg.ops import fallback
    assert mmcv.ops is fallback and mmcv.ops.nms.__module__ == 'seg.ops.fallback.nms'
    for name in fallback.SUBMODULES:
        assert importlib.import_module(f'mmcv.ops.{name}').__name__ == f'seg.ops.fallback.{name}'


@fallback_only
def test_ops_without_fallback_raise_when_called():
    from mmcv.ops import box_iou_rotated
    from mmcv.ops.voxelize import Voxelization
    with pytest.raises(MissingOpError, match='box_iou_rotated'):
        box_iou_rotated(torch.zeros(1, 5), torch.zeros(1, 5))
    with pytest.raises(MissingOpError, match='Voxelization'):
        Voxelization(voxel_size=[1, 1, 1], point_cloud_range=[0] * 6, max_num_points=4)


@pytest.mark.parametrize('type_name', ['DCN', 'DCNv2'])
def test_dcn_builds_from_config(type_name):
    from mmcv.cnn import build_conv_layer
    from mmengine.registry import MODELS

    from mmdet.registry import MODELS as MMDET_MODELS
    layer = MODELS.build(dict(type=type_name, in_channels=4, out_channels=4, kernel_size=3, padding=1))
    assert type(layer).__name__ == ('DeformConv2dPack' if type_name == 'DCN' else 'ModulatedDeformConv2dPack')
    conv = build_conv_layer(dict(type=type_name, deform_groups=2), 4, 6, kernel_size=3, stride=2, padding=1)
    assert conv(torch.randn(1, 4, 8, 8)).shape == (1, 6, 4, 4)
    scoped = MMDET_MODELS.build(dict(type=type_name, in_channels=4, out_channels=4, kernel_size=3))
    assert type(scoped) is type(layer)


def test_registered_models():
    from mmengine.registry import MODELS
    for name in ('DCN', 'DCNv2', 'MultiScaleDeformableAttention', 'carafe'):
        assert MODELS.get(name) is not None, name


def test_mmdet_resnet_with_dcn_runs():
    from mmdet.models.backbones import ResNet
    net = ResNet(depth=50, base_channels=8, stem_channels=8, out_indices=(0, 1, 2, 3),
                 dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
                 stage_with_dcn=(False, True, True, True))
    net.eval()  # mmdet's ResNet.train() returns None
    assert type(net.layer2[0].conv2).__name__ == 'ModulatedDeformConv2dPack'
    with torch.no_grad():
        outs = net(torch.randn(1, 3, 64, 64))
    assert [o.shape[1:] for o in outs] == [(32, 16, 16), (64, 8, 8), (128, 4, 4), (256, 2, 2)]
    assert all(torch.isfinite(o).all() for o in outs)


def test_mmdet_msdeformattn_pixel_decoder_runs():
    from mmdet.models.layers import MSDeformAttnPixelDecoder
    encoder = ConfigDict(
        num_layers=1,
        layer_cfg=dict(self_attn_cfg=dict(embed_dims=32, num_heads=4, num_levels=3, num_points=2, dropout=0.0,
                                          batch_first=True),
                       ffn_cfg=dict(embed_dims=32, feedforward_channels=64, num_fcs=2, ffn_drop=0.0,
                                    act_cfg=dict(type='ReLU', inplace=True))))
    decoder = MSDeformAttnPixelDecoder(in_channels=[8, 16, 32, 64], strides=[4, 8, 16, 32], feat_channels=32,
                                       out_channels=32, num_outs=3, norm_cfg=dict(type='GN', num_groups=8),
                                       encoder=encoder,
                                       positional_encoding=dict(num_feats=16, normalize=True))
    decoder.init_weights()
    feats = [torch.randn(1, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate([8, 16, 32, 64])]
    mask_feature, multi_scale = decoder(feats)
    assert mask_feature.shape == (1, 32, 32, 32)
    assert [f.shape[-1] for f in multi_scale] == [4, 8, 16]
    mask_feature.mean().backward()
    attn = decoder.encoder.layers[0].self_attn
    assert type(attn).__name__ == 'MultiScaleDeformableAttention'
    assert attn.sampling_offsets.weight.grad.abs().sum() > 0  # the loss reaches the sampling offsets
