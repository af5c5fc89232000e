"""roi_align / roi_pool fallbacks vs loop re-statements of mmcv's kernels."""
import math

import pytest
import torch
import torchvision

from seg.ops.fallback.roi_align import RoIAlign, roi_align
from seg.ops.fallback.roi_pool import RoIPool, roi_pool


def align_sample(img, y: float, x: float) -> float:
    """mmcv roi_align's bilinear read: clamp into the map, nothing beyond [-1, size]."""
    height, width = img.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.
    y, x = max(y, 0.), max(x, 0.)
    y0, x0 = int(y), int(x)
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return float((1 - ly) * (1 - lx) * img[y0, x0] + (1 - ly) * lx * img[y0, x1]
                 + ly * (1 - lx) * img[y1, x0] + ly * lx * img[y1, x1])


def reference_roi_align(feat, rois, out_size, scale, ratio, mode, aligned):
    out = torch.zeros(len(rois), feat.size(1), *out_size, dtype=torch.float64)
    for r, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        shift = 0.5 if aligned else 0.
        sx, sy, ex, ey = x1 * scale - shift, y1 * scale - shift, x2 * scale - shift, y2 * scale - shift
        rw, rh = ex - sx, ey - sy
        if not aligned:
            rw, rh = max(rw, 1.), max(rh, 1.)
        bh, bw = rh / out_size[0], rw / out_size[1]
        gh = ratio if ratio > 0 else math.ceil(rh / out_size[0])
        gw = ratio if ratio > 0 else math.ceil(rw / out_size[1])
        for c in range(feat.size(1)):
            img = feat[int(b), c]
            for ph in range(out_size[0]):
                for pw in range(out_size[1]):
                    ys = [sy + ph * bh + (iy + .5) * bh / gh for iy in range(gh)]
                    xs = [sx + pw * bw + (ix + .5) * bw / gw for ix in range(gw)]
                    vals = [align_sample(img, y, x) for y in ys for x in xs]
                    if mode == 'avg':
                        out[r, c, ph, pw] = sum(vals) / max(gh * gw, 1)
                    else:
                        out[r, c, ph, pw] = max([-10000.] + vals)
    return out


def reference_roi_pool(feat, rois, out_size, scale):
    """mmcv's roi_pool CUDA kernel: continuous RoI [x1 * s, (x2 + 1) * s), floor/ceil bins."""
    out = torch.zeros(len(rois), feat.size(1), *out_size, dtype=feat.dtype)
    height, width = feat.shape[2:]
    for r, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        rx1, ry1, rx2, ry2 = x1 * scale, y1 * scale, (x2 + 1) * scale, (y2 + 1) * scale
        rw, rh = rx2 - rx1, ry2 - ry1
        if rw <= 0 or rh <= 0:
            continue
        for ph in range(out_size[0]):
            for pw in range(out_size[1]):
                hs = min(max(math.floor(ph * rh / out_size[0] + ry1), 0), height)
                he = min(max(math.ceil((ph + 1) * rh / out_size[0] + ry1), 0), height)
                ws = min(max(math.floor(pw * rw / out_size[1] + rx1), 0), width)
                we = min(max(math.ceil((pw + 1) * rw / out_size[1] + rx1), 0), width)
                if he > hs and we > ws:
                    out[r, :, ph, pw] = feat[int(b), :, hs:he, ws:we].amax(dim=(1, 2))
    return out


def make_rois(n: int, batch: int = 2, extent: float = 40.) -> torch.Tensor:
    xy = torch.rand(n, 2) * extent - 5  # some start left/above the image
    wh = torch.rand(n, 2) * extent * 0.6
    rois = torch.cat([torch.randint(0, batch, (n, 1)).float(), xy, xy + wh], 1)
    rois[0, 1:] = torch.tensor([3., 3., 3.2, 3.1])  # tiny RoI
    rois[1, 1:] = torch.tensor([30., 30., 60., 70.])  # mostly outside
    return rois


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('ratio', [0, 2])
@pytest.mark.parametrize('mode', ['avg', 'max'])
def test_roi_align_matches_reference(aligned, ratio, mode):
    feat = torch.randn(2, 3, 9, 11)
    rois = make_rois(8)
    out = roi_align(feat, rois, (3, 2), 0.25, ratio, mode, aligned)
    ref = reference_roi_align(feat, rois, (3, 2), 0.25, ratio, mode, aligned)
    assert (out.double() - ref).abs().max() <= 1e-5 * ref.abs().max()


@pytest.mark.parametrize('mode', ['avg', 'max'])
def test_roi_align_gradcheck(mode):
    feat = torch.randn(1, 1, 6, 7, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 1.3, 0.7, 17.1, 15.2], [0, -3.1, 2.2, 9.4, 30.3]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: roi_align(f, rois, 2, 0.5, 0, mode, True), (feat,))


def test_roi_align_module():
    layer = RoIAlign(output_size=(4, 4), spatial_scale=0.5, sampling_ratio=0)
    assert layer.output_size == (4, 4) and layer.pool_mode == 'avg' and layer.aligned
    assert 'use_torchvision=False' in repr(layer)
    feat, rois = torch.randn(2, 3, 9, 11), make_rois(5)
    expected = torchvision.ops.roi_align(feat, rois, (4, 4), 0.5, 0, True)
    torch.testing.assert_close(layer(feat, rois), expected)
    assert RoIAlign(4, sample_num=2).sampling_ratio == 2  # deprecated name
    max_layer = RoIAlign(2, pool_mode='max', use_torchvision=True)  # mmcv ignores pool_mode here
    torch.testing.assert_close(max_layer(feat, rois), torchvision.ops.roi_align(feat, rois, 2, 1., 0, True))


@pytest.mark.parametrize('scale', [1.0, 0.25, 1 / 3])
def test_roi_pool_matches_reference(scale):
    feat = torch.randn(2, 3, 10, 12)
    rois = make_rois(10, extent=40 * scale / 0.25 if scale < 1 else 12)
    rois[2, 1:] = torch.tensor([5., 5., 2., 2.])  # x2 + 1 < x1: empty, output 0
    out = roi_pool(feat, rois, (3, 2), scale)
    ref = reference_roi_pool(feat, rois, (3, 2), scale)
    assert torch.equal(out, ref)


def test_roi_pool_differs_from_torchvision_rounding():
    feat = -torch.arange(64.).view(1, 1, 8, 8)  # maxima at the top-left of each bin
    # mmcv: x in [1.5, 5.5), bins [1, 4), [3, 6); torchvision rounds: bins [2, 4), [4, 6)
    rois = torch.tensor([[0., 6., 6., 21., 21.]])
    ours = roi_pool(feat, rois, 2, 0.25)
    assert torch.equal(ours, reference_roi_pool(feat, rois, (2, 2), 0.25))
    assert not torch.equal(ours, torchvision.ops.roi_pool(feat, rois, 2, 0.25))


def test_roi_pool_gradient_goes_to_first_max():
    feat = torch.zeros(1, 1, 4, 4, requires_grad=True)
    roi_pool(feat, torch.tensor([[0., 0., 0., 3., 3.]]), 1).sum().backward()
    expected = torch.zeros(1, 1, 4, 4)
    expected[0, 0, 0, 0] = 1
    assert torch.equal(feat.grad, expected)
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0., 0.5, 1., 4.5, 3.], [0., 1., 0., 5., 4.]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: roi_pool(f, rois, 2), (x,))


def test_roi_pool_module_and_empty():
    layer = RoIPool(7, spatial_scale=0.0625)
    assert layer.output_size == (7, 7) and 'spatial_scale=0.0625' in repr(layer)
    assert layer(torch.randn(1, 3, 5, 5), torch.zeros(0, 5)).shape == (0, 3, 7, 7)


def test_against_compiled(mmcv_ops):
    feat = torch.randn(2, 3, 9, 11, requires_grad=True)
    rois = make_rois(8)
    for aligned in (True, False):
        for mode in ('avg', 'max'):
            ours = roi_align(feat, rois, (3, 2), 0.25, 0, mode, aligned)
            theirs = mmcv_ops.roi_align(feat, rois, (3, 2), 0.25, 0, mode, aligned)
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
            g = torch.randn_like(ours)
            torch.testing.assert_close(torch.autograd.grad(ours, feat, g)[0],
                                       torch.autograd.grad(theirs, feat, g)[0], rtol=1e-5, atol=1e-5)
    if torch.cuda.is_available():  # mmcv's roi_pool has no CPU kernel
        feat, rois = feat.detach().cuda(), rois.cuda()
        torch.testing.assert_close(roi_pool(feat, rois, 3, 0.25), mmcv_ops.roi_pool(feat, rois, 3, 0.25))
