"""Deformable convolution fallbacks (torchvision path and grid_sample path) vs an explicit-loop reference."""
import math

import pytest
import torch
import torch.nn.functional as F

from seg.ops.fallback import deform_conv
from seg.ops.fallback.deform_conv import DeformConv2d, DeformConv2dPack, deform_conv2d, deformable_conv2d
from seg.ops.fallback.deform_sampling import deform_conv2d_sampling
from seg.ops.fallback.modulated_deform_conv import (ModulatedDeformConv2d, ModulatedDeformConv2dPack,
                                                    modulated_deform_conv2d)

PATHS = ['torchvision', 'grid_sample']


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    if request.param == 'torchvision' and not deform_conv.USE_TORCHVISION:
        pytest.skip("torchvision's deform_conv2d op is not loaded")
    monkeypatch.setattr(deform_conv, 'USE_TORCHVISION', request.param == 'torchvision')
    return request.param


def bilinear(img, y: float, x: float) -> float:
    """mmcv's deformable_im2col_bilinear on one channel (zeros outside, nothing at <= -1 or >= size)."""
    height, width = img.shape
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return 0.
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    total = 0.
    for yy, wy in ((y0, 1 - ly), (y0 + 1, ly)):
        for xx, wx in ((x0, 1 - lx), (x0 + 1, lx)):
            if 0 <= yy < height and 0 <= xx < width:
                total += wy * wx * float(img[yy, xx])
    return total


def reference_deform_conv(x, offset, weight, bias, stride, pad, dil, groups, dgroups, mask=None):
    """Explicit loops over output pixels, channels and kernel taps, in float64."""
    n, cin, height, width = x.shape
    cout, cpg, kh, kw = weight.shape
    out_h = (height + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    out_w = (width + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    cols = torch.zeros(n, cin, kh * kw, out_h * out_w, dtype=torch.float64)
    for b in range(n):
        for c in range(cin):
            g = c // (cin // dgroups)
            for i in range(kh):
                for j in range(kw):
                    k = i * kw + j
                    for oy in range(out_h):
                        for ox in range(out_w):
                            dy = float(offset[b, g * 2 * kh * kw + 2 * k, oy, ox])
                            dx = float(offset[b, g * 2 * kh * kw + 2 * k + 1, oy, ox])
                            y = oy * stride - pad + i * dil + dy
                            val = bilinear(x[b, c], y, ox * stride - pad + j * dil + dx)
                            if mask is not None:
                                val *= float(mask[b, g * kh * kw + k, oy, ox])
                            cols[b, c, k, oy * out_w + ox] = val
    cols = cols.view(n, groups, cpg * kh * kw, -1)
    out = torch.matmul(weight.double().view(groups, cout // groups, -1), cols).view(n, cout, out_h, out_w)
    if bias is not None:
        out = out + bias.double().view(1, -1, 1, 1)
    return out


def make_case(dtype=torch.float32, zero_offsets=False, special_offsets=True, n=1, cin=4, cout=4, size=(5, 6),
              k=3, stride=2, pad=1, dil=1, groups=2, dgroups=2):
    out_h = (size[0] + 2 * pad - dil * (k - 1) - 1) // stride + 1
    out_w = (size[1] + 2 * pad - dil * (k - 1) - 1) // stride + 1
    x = torch.randn(n, cin, *size, dtype=dtype)
    offset = torch.zeros if zero_offsets else lambda *s, dtype: torch.randn(*s, dtype=dtype) * 1.5
    off = offset(n, dgroups * 2 * k * k, out_h, out_w, dtype=dtype)
    if special_offsets and not zero_offsets:
        off[0, :4, 0, 0] = torch.tensor([-3.0, 0.5, 1.0, 7.25])  # far outside / on the grid
    mask = torch.rand(n, dgroups * k * k, out_h, out_w, dtype=dtype)
    weight = torch.randn(cout, cin // groups, k, k, dtype=dtype)
    bias = torch.randn(cout, dtype=dtype)
    return x, off, mask, weight, bias, dict(stride=stride, pad=pad, dil=dil, groups=groups, dgroups=dgroups)


@pytest.mark.parametrize('geometry', [
    dict(stride=1, pad=1, dil=1, groups=1, dgroups=1),
    dict(stride=2, pad=1, dil=1, groups=2, dgroups=2),
    dict(stride=1, pad=2, dil=2, groups=1, dgroups=4),
])
@pytest.mark.parametrize('modulated', [False, True])
def test_forward_matches_reference(path, geometry, modulated):
    x, off, mask, weight, bias, g = make_case(**geometry)
    ref = reference_deform_conv(x, off, weight, bias if modulated else None, g['stride'], g['pad'], g['dil'],
                                g['groups'], g['dgroups'], mask if modulated else None)
    if modulated:
        out = modulated_deform_conv2d(x, off, mask, weight, bias, g['stride'], g['pad'], g['dil'],
                                      g['groups'], g['dgroups'])
    else:
        out = deform_conv2d(x, off, weight, g['stride'], g['pad'], g['dil'], g['groups'], g['dgroups'])
    assert out.dtype == torch.float32
    assert (out.double() - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_gradcheck(path):
    x, off, mask, weight, bias, g = make_case(torch.float64, size=(4, 4), cin=2, cout=2, groups=1, dgroups=2,
                                              special_offsets=False)  # off the pixel grid: no kinks
    args = (g['stride'], g['pad'], g['dil'], g['groups'], g['dgroups'])
    inputs = tuple(t.requires_grad_() for t in (x, off, mask, weight, bias))
    assert torch.autograd.gradcheck(lambda *t: modulated_deform_conv2d(*t, *args), inputs, eps=1e-6,
                                    atol=1e-5)
    assert torch.autograd.gradcheck(lambda a, b, c: deform_conv2d(a, b, c, *args), (x, off, weight), eps=1e-6,
                                    atol=1e-5)


@pytest.mark.parametrize('zero_offsets', [False, True])
def test_paths_agree_forward_and_backward(zero_offsets):
    if not deform_conv.USE_TORCHVISION:
        pytest.skip("torchvision's deform_conv2d op is not loaded")
    import torchvision
    x, off, mask, weight, bias, g = make_case(n=2, size=(7, 6), zero_offsets=zero_offsets)
    tensors = [t.requires_grad_() for t in (x, off, mask, weight, bias)]
    tv = torchvision.ops.deform_conv2d(x, off, weight, bias, g['stride'], g['pad'], g['dil'], mask)
    gs = deform_conv2d_sampling(x, off, weight, bias, g['stride'], g['pad'], g['dil'], g['groups'],
                                g['dgroups'], mask)
    assert (tv - gs).abs().max() <= 1e-5 * tv.abs().max()
    grad = torch.randn_like(tv)
    for a, b in zip(torch.autograd.grad(tv, tensors, grad), torch.autograd.grad(gs, tensors, grad)):
        assert (a - b).abs().max() <= 1e-5 * max(a.abs().max(), 1)


def test_deform_conv2d_rejects_bias_and_bad_offsets():
    x, off, _, weight, _, _ = make_case(groups=1, dgroups=1, stride=1)
    with pytest.raises(AssertionError):
        deform_conv2d(x, off, weight, 1, 1, 1, 1, 1, True)
    with pytest.raises(ValueError, match='offset'):
        deform_conv2d(x, off, weight, 1, 1, 1, 1, 2)


def test_pack_modules_start_as_plain_conv(path):
    x = torch.randn(2, 4, 6, 5)
    dcn = DeformConv2dPack(4, 6, 3, stride=2, padding=1, deform_groups=2)
    assert set(dcn.state_dict()) == {'weight', 'conv_offset.weight', 'conv_offset.bias'}
    assert dcn.conv_offset.out_channels == 2 * 2 * 9
    torch.testing.assert_close(dcn(x), F.conv2d(x, dcn.weight, stride=2, padding=1), rtol=1e-5, atol=1e-5)

    dcn2 = ModulatedDeformConv2dPack(4, 6, 3, padding=1, deform_groups=2)
    assert set(dcn2.state_dict()) == {'weight', 'bias', 'conv_offset.weight', 'conv_offset.bias'}
    assert dcn2.conv_offset.out_channels == 3 * 2 * 9
    with torch.no_grad():
        dcn2.bias.normal_()
    expected = F.conv2d(x, dcn2.weight, padding=1) * 0.5 + dcn2.bias.view(1, -1, 1, 1)  # mask = sigmoid(0)
    torch.testing.assert_close(dcn2(x), expected, rtol=1e-5, atol=1e-5)


def test_pack_training_step_moves_offsets(path):
    dcn = ModulatedDeformConv2dPack(2, 2, 3, padding=1)
    dcn(torch.randn(1, 2, 5, 5)).square().sum().backward()
    assert dcn.conv_offset.weight.grad.abs().sum() > 0


def test_module_attributes_and_init():
    dcn = DeformConv2d(4, 8, (3, 1), stride=2, padding=(1, 0), groups=2, deform_groups=2)
    assert dcn.kernel_size == (3, 1) and dcn.stride == (2, 2) and dcn.padding == (1, 0)
    assert dcn.weight.shape == (8, 2, 3, 1) and not dcn.transposed and dcn.output_padding == (0,)
    assert 'bias=False' in repr(dcn)
    with pytest.raises(AssertionError):
        DeformConv2d(4, 8, 3, bias=True)
    mdcn = ModulatedDeformConv2d(4, 8, 3, bias=False)
    assert mdcn.bias is None and mdcn.weight.abs().max() <= 1 / math.sqrt(4 * 9)
    assert ModulatedDeformConv2d(4, 8, 3, deformable_groups=2).deform_groups == 2  # deprecated name


def test_small_input_is_padded_like_mmcv(path):
    dcn = DeformConv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 2, 4)  # shorter than the kernel: padded to 3 rows, output cropped back
    out = dcn(x, torch.zeros(1, 18, 2, 4))
    torch.testing.assert_close(out, F.conv2d(x, dcn.weight, padding=1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('cls', [DeformConv2dPack, ModulatedDeformConv2dPack])
def test_legacy_offset_keys_are_renamed(cls):
    holder = torch.nn.Module()
    holder.conv2 = cls(2, 2, 3, padding=1)
    state = {f'conv2.{k}': v.clone().normal_() for k, v in holder.conv2.state_dict().items()}
    for name in ('weight', 'bias'):  # mmdet v1 DCNv2 naming, no version metadata
        state[f'conv2.conv_offset_mask.{name}'] = state.pop(f'conv2.conv_offset.{name}')
    holder.load_state_dict(state)
    assert torch.equal(holder.conv2.conv_offset.weight, state['conv2.conv_offset_mask.weight'])
    assert holder.state_dict()._metadata['conv2']['version'] == 2

    # mmcv's other legacy name, a sibling key '<name>_offset.*'; torch and mmengine hand a child
    # only the keys under its own prefix, so it is renamed only when the full dict reaches the layer
    layer = cls(2, 2, 3, padding=1)
    full = {f'conv2.{k}': v.clone().normal_() for k, v in layer.state_dict().items()}
    full['conv2_offset.weight'] = full.pop('conv2.conv_offset.weight')
    expected = full['conv2_offset.weight']
    missing, unexpected, errors = [], [], []
    layer._load_from_state_dict(full, 'conv2.', {}, True, missing, unexpected, errors)
    assert not missing and not errors
    assert 'conv2_offset.weight' not in full and full['conv2.conv_offset.weight'] is expected


@pytest.mark.parametrize('modulated', [False, True])
def test_against_compiled(mmcv_ops, modulated):
    x, off, mask, weight, bias, g = make_case(n=2, size=(7, 6))
    args = (g['stride'], g['pad'], g['dil'], g['groups'], g['dgroups'])
    ours_in = [t.clone().requires_grad_() for t in (x, off, mask, weight, bias)]
    theirs_in = [t.clone().requires_grad_() for t in (x, off, mask, weight, bias)]
    if modulated:
        ours = modulated_deform_conv2d(*ours_in, *args)
        theirs = mmcv_ops.modulated_deform_conv2d(*theirs_in, *args)
    else:
        ours = deform_conv2d(ours_in[0], ours_in[1], ours_in[3], *args)
        theirs = mmcv_ops.deform_conv2d(theirs_in[0], theirs_in[1], theirs_in[3], *args)
    assert (ours - theirs).abs().max() <= 1e-5 * theirs.abs().max()
    grad = torch.randn_like(ours)
    ours.backward(grad)
    theirs.backward(grad)
    for a, b in zip(ours_in, theirs_in):
        if b.grad is not None:
            assert (a.grad - b.grad).abs().max() <= 1e-4 * max(b.grad.abs().max(), 1)


def test_deformable_conv2d_casts_to_offset_dtype(path):
    x, off, _, weight, _, g = make_case(groups=1, dgroups=1)
    out = deformable_conv2d(x, off.double(), weight, stride=2, padding=1)
    assert out.dtype == torch.float64


def test_bfloat16_runs_on_both_paths(path):
    """bfloat16 (CPU autocast's dtype, which torchvision's kernel lacks) gives bfloat16 close to float32."""
    x, off, mask, weight, bias, g = make_case(groups=1, dgroups=1)
    x, off, mask, weight, bias = (t.bfloat16() for t in (x, off, mask, weight, bias))
    out = deformable_conv2d(x, off, weight, bias, stride=2, padding=1, mask=mask)
    expected = deformable_conv2d(x.float(), off.float(), weight.float(), bias.float(), stride=2, padding=1,
                                 mask=mask.float())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=5e-2)


def test_pack_trains_under_cpu_bfloat16_autocast(path):
    torch.manual_seed(0)
    layer = ModulatedDeformConv2dPack(4, 4, 3, padding=1, deform_groups=2)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = layer(torch.randn(2, 4, 6, 7))
    out.float().square().mean().backward()
    assert out.dtype == torch.bfloat16
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
               for p in layer.parameters())
