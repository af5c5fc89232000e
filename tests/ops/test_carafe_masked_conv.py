"""CARAFE and masked_conv2d fallbacks vs loop re-statements of mmcv's kernels."""
import pytest
import torch
import torch.nn.functional as F

from seg.ops.fallback.carafe import CARAFE, CARAFENaive, CARAFEPack, carafe, carafe_naive
from seg.ops.fallback.masked_conv import MaskedConv2d, masked_conv2d


def reference_carafe(features, masks, k, groups, scale):
    """carafe_naive_forward_cuda_kernel: one output pixel at a time, neighbours outside the map skipped."""
    n, c, h, w = features.shape
    out = torch.zeros(n, c, h * scale, w * scale, dtype=torch.float64)
    r = (k - 1) // 2
    for b in range(n):
        for ch in range(c):
            g = ch // (c // groups)
            for y in range(h * scale):
                for x in range(w * scale):
                    total = 0.
                    for iy in range(y // scale - r, y // scale + r + 1):
                        for ix in range(x // scale - r, x // scale + r + 1):
                            if 0 <= iy < h and 0 <= ix < w:
                                tap = (g * k + iy - y // scale + r) * k + ix - x // scale + r
                                total += features[b, ch, iy, ix].item() * masks[b, tap, y, x].item()
                    out[b, ch, y, x] = total
    return out


@pytest.mark.parametrize('k, groups, scale', [(3, 1, 2), (5, 2, 2), (3, 2, 3), (1, 1, 1)])
def test_carafe_matches_reference(k, groups, scale):
    features = torch.randn(2, 4, 3, 4)
    masks = torch.rand(2, groups * k * k, 3 * scale, 4 * scale)
    ref = reference_carafe(features, masks, k, groups, scale)
    for fn in (carafe, carafe_naive):
        out = fn(features, masks, k, groups, scale)
        assert (out.double() - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_carafe_gradcheck():
    features = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    masks = torch.rand(1, 2 * 9, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, m: carafe(f, m, 3, 2, 2), (features, masks))


def test_carafe_checks_and_modules():
    features, masks = torch.randn(1, 4, 3, 3), torch.rand(1, 9, 6, 6)
    with pytest.raises(AssertionError):
        carafe(features, masks, 3, 1, 3)  # mask size does not match the scale
    with pytest.raises(AssertionError):
        carafe(features, torch.rand(1, 4, 6, 6), 2, 1, 2)  # even kernel
    torch.testing.assert_close(CARAFE(3, 1, 2)(features, masks), carafe(features, masks, 3, 1, 2))
    torch.testing.assert_close(CARAFENaive(3, 1, 2)(features, masks), carafe(features, masks, 3, 1, 2))
    assert not isinstance(CARAFE(3, 1, 2), CARAFENaive)


def test_carafe_pack():
    pack = CARAFEPack(channels=8, scale_factor=2, up_kernel=3, up_group=2, compressed_channels=4)
    assert pack.content_encoder.out_channels == 3 * 3 * 2 * 2 * 2
    assert pack.channel_compressor.out_channels == 4
    assert pack.content_encoder.weight.std() < 0.01 and pack.content_encoder.bias.abs().sum() == 0
    assert set(pack.state_dict()) == {'channel_compressor.weight', 'channel_compressor.bias',
                                      'content_encoder.weight', 'content_encoder.bias'}
    x = torch.randn(1, 8, 4, 5)
    mask = pack.kernel_normalizer(pack.content_encoder(pack.channel_compressor(x)))
    assert mask.shape == (1, 2 * 9, 8, 10)
    torch.testing.assert_close(mask.view(1, 2, 9, 8, 10).sum(2), torch.ones(1, 2, 8, 10))
    out = pack(x)
    torch.testing.assert_close(out, carafe(x, mask, 3, 2, 2))
    # a near-uniform kernel on an interior pixel averages its 3x3 source neighbourhood
    torch.testing.assert_close(out[0, :, 4, 4], x[0, :, 1:4, 1:4].mean((1, 2)), rtol=0, atol=5e-3)


def reference_masked_conv(features, mask, weight, bias, pad):
    """masked_im2col + addmm + masked_col2im: stride 1, no dilation, output only at mask > 0."""
    _, cin, h, w = features.shape
    cout, _, kh, kw = weight.shape
    out_h, out_w = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
    out = torch.zeros(1, cout, out_h, out_w, dtype=torch.float64)
    padded = F.pad(features.double(), (pad, pad, pad, pad))
    for y, x in (mask[0] > 0).nonzero().tolist():
        if y < out_h and x < out_w:
            patch = padded[0, :, y:y + kh, x:x + kw]
            out[0, :, y, x] = (weight.double() * patch).sum((1, 2, 3)) + bias.double()
    return out


@pytest.mark.parametrize('pad, k', [(1, 3), (0, 1), (2, 3), (0, 3)])
def test_masked_conv_matches_reference(pad, k):
    features = torch.randn(1, 3, 6, 5)
    mask = (torch.rand(1, 6, 5) > 0.5).float()
    weight, bias = torch.randn(4, 3, k, k), torch.randn(4)
    out = masked_conv2d(features, mask, weight, bias, pad)
    ref = reference_masked_conv(features, mask, weight, bias, pad)
    assert out.shape == ref.shape
    assert (out.double() - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_masked_conv_module():
    layer = MaskedConv2d(3, 4, 3, padding=1, dilation=2)
    x = torch.randn(1, 3, 6, 5)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=1, dilation=2))
    mask = torch.ones(1, 6, 5)
    # mmcv's masked path passes only padding: stride 1 and dilation 1
    torch.testing.assert_close(layer(x, mask), F.conv2d(x, layer.weight, layer.bias, padding=1))
    with pytest.raises(ValueError, match='Stride'):
        masked_conv2d(x, mask, layer.weight, layer.bias, 1, 2)
    with pytest.raises(AssertionError):
        masked_conv2d(x.expand(2, -1, -1, -1), mask, layer.weight, layer.bias, 1)


def test_against_compiled(mmcv_ops):
    if not torch.cuda.is_available():
        pytest.skip("mmcv's carafe and masked_conv2d kernels are CUDA-only")
    features = torch.randn(2, 4, 5, 6, device='cuda')
    masks = torch.rand(2, 2 * 25, 10, 12, device='cuda')
    f1, m1 = features.clone().requires_grad_(), masks.clone().requires_grad_()
    f2, m2 = features.clone().requires_grad_(), masks.clone().requires_grad_()
    ours, theirs = carafe(f1, m1, 5, 2, 2), mmcv_ops.carafe(f2, m2, 5, 2, 2)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(ours)
    ours.backward(grad)
    theirs.backward(grad)
    torch.testing.assert_close(f1.grad, f2.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(m1.grad, m2.grad, rtol=1e-4, atol=1e-4)
    x, mask = torch.randn(1, 3, 6, 5, device='cuda'), (torch.rand(1, 6, 5, device='cuda') > 0.5).float()
    weight, bias = torch.randn(4, 3, 3, 3, device='cuda'), torch.randn(4, device='cuda')
    torch.testing.assert_close(masked_conv2d(x, mask, weight, bias, 1),
                               mmcv_ops.masked_conv2d(x, mask, weight, bias, 1), rtol=1e-5, atol=1e-5)
