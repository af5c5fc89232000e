"""Inpainting metrics: PSNR/SSIM against hand-made cases and a direct window loop (and scikit-image
when installed), Fréchet distances with known values, I3D shapes and weight round trips,
E_warp cases, and VideoInpaintingMetric run through an mmengine Evaluator."""
import math

import cv2
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope

from seg.evaluation.functional.i3d import I3D_FEATURE_DIM, InceptionI3d, load_i3d
from seg.evaluation.functional.inpainting_metrics import (build_vfid_network, flow_occlusion, format_score_table,
                                                          frechet_distance, i3d_features, psnr, ssim,
                                                          summarise_scores, vfid, vfid_from_features,
                                                          warping_error)
from seg.evaluation.metrics import video_inpainting_metric as metric_module
from seg.evaluation.metrics.video_inpainting_metric import VideoInpaintingMetric, frames_to_0_255


def random_frame(rng, h=40, w=48):
    return rng.integers(0, 256, (h, w, 3)).astype(np.uint8)


def textured_video(rng, num_frames=4, h=48, w=64, step=2):
    """A smooth random texture panning right by ``step`` px per frame: (T, h, w, 3) uint8."""
    big = cv2.GaussianBlur(rng.random((h, w + step * num_frames, 3)).astype(np.float32), (0, 0), 2)
    big = (big - big.min()) / (big.max() - big.min()) * 255
    return np.stack([big[:, step * (num_frames - t):step * (num_frames - t) + w] for t in range(num_frames)]).astype(
        np.uint8)


def ssim_by_window_loop(x, y, data_range, win):
    """SSIM written out window by window: reflect-padded (edge repeated) mean over a win x win box,
    sample covariances, map cropped by (win - 1) / 2, averaged per channel then over channels."""
    pad = win // 2
    c1, c2 = (0.01 * data_range)**2, (0.03 * data_range)**2
    values = []
    for c in range(x.shape[2]):
        xp = np.pad(x[..., c].astype(np.float64), pad, mode='symmetric')
        yp = np.pad(y[..., c].astype(np.float64), pad, mode='symmetric')
        h, w = x.shape[:2]
        ssim_map = np.zeros((h, w))
        for i in range(h):
            for j in range(w):
                a = xp[i:i + win, j:j + win].ravel()
                b = yp[i:i + win, j:j + win].ravel()
                va, vb = a.var(ddof=1), b.var(ddof=1)
                cov = np.cov(a, b)[0, 1]
                ssim_map[i, j] = ((2 * a.mean() * b.mean() + c1) * (2 * cov + c2) /
                                  ((a.mean()**2 + b.mean()**2 + c1) * (va + vb + c2)))
        values.append(ssim_map[pad:h - pad, pad:w - pad].mean())
    return np.mean(values)


# ----------------------------------------------------------------------------------------------
# PSNR / SSIM
# ----------------------------------------------------------------------------------------------
def test_psnr_of_a_known_mse():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 5, np.uint8)  # MSE 25
    assert psnr(a, b) == pytest.approx(20 * math.log10(255 / 5))
    c = a.copy()
    c[0, 0, 0] = 255  # MSE 255² / 192
    assert psnr(a, c) == pytest.approx(10 * math.log10(192))
    assert psnr(a, a) == math.inf
    with pytest.raises(ValueError, match='one shape'):
        psnr(a, b[:4])


def test_ssim_of_identical_frames_is_one_and_of_constant_frames_is_the_luminance_term():
    rng = np.random.default_rng(0)
    frame = random_frame(rng, 70, 80)
    assert ssim(frame, frame) == pytest.approx(1.0)
    a, b = np.full((70, 70, 3), 100.0), np.full((70, 70, 3), 150.0)
    c1 = (0.01 * 255)**2
    assert ssim(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1))


def test_ssim_equals_a_window_by_window_computation():
    rng = np.random.default_rng(1)
    x = random_frame(rng, 18, 21)
    y = np.clip(x + rng.normal(0, 25, x.shape), 0, 255)
    assert ssim(x, y, win_size=7) == pytest.approx(ssim_by_window_loop(x, y, 255, 7), rel=1e-10)


def test_ssim_equals_scikit_image_with_the_official_settings():
    skimage_metrics = pytest.importorskip('skimage.metrics')
    rng = np.random.default_rng(2)
    x = random_frame(rng, 120, 216).astype(np.float64)
    y = np.clip(x + rng.normal(0, 20, x.shape), 0, 255)
    expected = skimage_metrics.structural_similarity(x, y, data_range=255, channel_axis=-1, win_size=65)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-12)


def test_ssim_rejects_frames_smaller_than_the_window():
    frame = np.zeros((40, 80, 3))
    with pytest.raises(ValueError, match='H, W >= 65'):
        ssim(frame, frame)


# ----------------------------------------------------------------------------------------------
# Fréchet distance / VFID
# ----------------------------------------------------------------------------------------------
def test_frechet_distance_of_identical_and_known_gaussians():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(6, 6))
    sigma = a @ a.T + np.eye(6)
    mu = rng.normal(size=6)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-9)
    # 1-D: (m1 - m2)² + (s1 - s2)² for standard deviations s.
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == pytest.approx(5)
    # Diagonal: the 1-D case per dimension.
    d1, d2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    expected = 3 + np.sum((np.sqrt(d1) - np.sqrt(d2))**2)
    assert frechet_distance(np.zeros(3), np.diag(d1), np.ones(3), np.diag(d2)) == pytest.approx(expected)


def test_vfid_from_features_of_shifted_features_is_the_squared_shift():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(20, 5))
    assert vfid_from_features(real, real) == pytest.approx(0, abs=1e-9)
    assert vfid_from_features(real, real + 0.5) == pytest.approx(5 * 0.25)
    with pytest.raises(ValueError, match='N >= 2'):
        vfid_from_features(real[:1], real[:1])


def test_i3d_features_of_a_tiny_clip_have_1024_values():
    torch.manual_seed(0)
    network = InceptionI3d().eval()
    clip = torch.rand(2, 3, 5, 40, 56)
    with torch.no_grad():
        feature_map = network.feature_map(clip)
        features = network.features(clip[:1])
    assert feature_map.shape == (2, I3D_FEATURE_DIM, 1, 2, 2)  # T / 8, H / 32, W / 32 rounded up
    assert features.shape == (1, I3D_FEATURE_DIM)
    assert torch.allclose(features[0], feature_map[0].mean(dim=(1, 2, 3)), atol=1e-6)


def randomised_state(network):
    """The network's state dict with every float entry random (BN statistics in sensible ranges)."""
    generator = torch.Generator().manual_seed(0)
    state = network.state_dict()
    for key, value in state.items():
        if not value.is_floating_point():
            continue
        if key.endswith('running_var') or key.endswith('bn.weight'):
            value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
        else:
            value.copy_(torch.randn(value.shape, generator=generator) * 0.05)
    return state


def test_load_i3d_round_trip_and_missing_weights(tmp_path, caplog):
    network = InceptionI3d()
    path = tmp_path / 'i3d_rgb_imagenet.pt'
    torch.save(randomised_state(network), path)
    loaded = load_i3d(str(path))
    assert not loaded.training
    assert torch.equal(loaded.Mixed_5c.b0.conv3d.weight, network.state_dict()['Mixed_5c.b0.conv3d.weight'])
    with pytest.raises(FileNotFoundError, match='i3d_rgb_imagenet.pt'):
        load_i3d(str(tmp_path / 'absent.pt'))
    torch.save({'Conv3d_1a_7x7.conv3d.weight': torch.zeros(1)}, tmp_path / 'wrong.pt')
    with pytest.raises(ValueError, match='not an i3d_rgb_imagenet.pt state dict'):
        load_i3d(str(tmp_path / 'wrong.pt'))
    assert build_vfid_network(None) is None
    assert build_vfid_network(str(tmp_path / 'absent.pt')) is None
    assert vfid([np.zeros((2, 8, 8, 3))] * 2, [np.zeros((2, 8, 8, 3))] * 2, None) is None


def test_i3d_features_take_videos_as_uint8_divided_by_255(monkeypatch):
    seen = []

    class Recorder(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def features(self, clip):
            seen.append(clip)
            return torch.zeros(1, I3D_FEATURE_DIM)

    video = np.array([[[[10.7, 255.9, -3.0]]]])  # (T=1, H=1, W=1, 3) floats
    i3d_features(video, Recorder())
    # (B, 3, T, H, W); floats clipped and truncated to uint8 like the official PIL conversion.
    assert seen[0].shape == (1, 3, 1, 1, 1)
    assert seen[0].flatten().tolist() == pytest.approx([10 / 255, 1.0, 0.0])


# ----------------------------------------------------------------------------------------------
# E_warp
# ----------------------------------------------------------------------------------------------
def test_warping_error_of_a_still_video_is_zero_and_of_flicker_is_the_squared_step():
    rng = np.random.default_rng(5)
    frame = random_frame(rng, 32, 40)
    still = np.stack([frame] * 4)
    assert warping_error(still) == 0
    flicker = np.stack([np.full((32, 40, 3), v, np.uint8) for v in (100, 110, 100, 110)])
    zero_flow = lambda a, b: np.zeros(a.shape[:2] + (2, ), np.float32)  # noqa: E731
    assert warping_error(flicker, flow_fn=zero_flow) == pytest.approx((10 / 255)**2)


def test_warping_error_uses_the_reference_flow_and_excludes_occlusions():
    rng = np.random.default_rng(6)
    video = textured_video(rng, step=2)
    calls = []

    def pan_flow(a, b):
        """The exact flow of the pan, told apart by which reference frames it is given."""
        ia, ib = (next(i for i, f in enumerate(video) if np.array_equal(f, x)) for x in (a, b))
        calls.append((ia, ib))
        flow = np.zeros(a.shape[:2] + (2, ), np.float32)
        flow[..., 0] = 2 * (ib - ia)  # content moves right by 2 px per frame
        return flow

    error = warping_error(video, video, pan_flow)
    assert calls == [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]
    shuffled = video[[0, 2, 1, 3]]
    # The flow comes from the reference even when the scored video differs from it.
    assert error < 1e-3 < warping_error(shuffled, video, pan_flow)
    assert warping_error(video, video) < warping_error(shuffled, video)  # OpenCV DIS flow
    with pytest.raises(ValueError, match='T >= 2'):
        warping_error(video[:1])


def test_flow_occlusion_marks_inconsistent_pixels():
    forward = np.zeros((10, 12, 2), np.float32)
    backward = np.zeros((10, 12, 2), np.float32)
    assert not flow_occlusion(forward, backward).any()
    backward[2:5, 3:6] = 5.0  # the backward flow does not undo the (zero) forward flow there
    occluded = flow_occlusion(forward, backward)
    assert occluded[2:5, 3:6].all() and occluded.sum() == 9


# ----------------------------------------------------------------------------------------------
# Summaries and the metric
# ----------------------------------------------------------------------------------------------
def test_summary_averages_frames_overall_and_formats_a_table():
    summary = summarise_scores({'a': dict(psnr=[30.0, 32.0], ssim=[0.9, 0.8], ewarp=0.02),
                                'b': dict(psnr=[21.0], ssim=[0.5], ewarp=0.04)})
    assert summary['videos']['a'] == dict(num_frames=2, PSNR=31.0, SSIM=pytest.approx(0.85), E_warp=0.02)
    assert summary['overall']['PSNR'] == pytest.approx(83 / 3)  # over frames, not videos
    assert summary['overall']['E_warp'] == pytest.approx(0.03)  # over videos
    table = format_score_table(summary).splitlines()
    assert table[0].split() == ['video', 'frames', 'PSNR', 'SSIM', 'E_warp']
    assert table[2].split() == ['a', '2', '31.0000', '0.8500', '0.020000']
    assert table[-1].split()[:3] == ['overall', '3', '27.6667']


def test_frames_to_0_255_conversions():
    uint8 = torch.tensor([[[[0, 255]]] * 3], dtype=torch.uint8)  # (T=1, 3, 1, 2)
    assert frames_to_0_255(uint8)[0, 0].tolist() == [[0, 0, 0], [255, 255, 255]]
    assert frames_to_0_255(torch.full((1, 3, 1, 1), 0.5))[0, 0, 0].tolist() == [127.5] * 3
    # The dataset's frames: a uint8 (T, 3, H, W) tensor.
    assert frames_to_0_255(torch.full((1, 3, 1, 1), 100, dtype=torch.uint8))[0, 0, 0].tolist() == [100] * 3
    with pytest.raises(ValueError, match='T, 3, H, W'):
        frames_to_0_255(np.zeros((3, 4, 4)))


def metric_sample(gt, pred, name, frame_ids):
    """A data sample dict with (T, 3, H, W) tensors in [0, 1] from (T, H, W, 3) uint8 arrays."""
    to_tensor = lambda v: torch.from_numpy(v).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    return dict(video_name=name, frame_ids=frame_ids, pred_frames=to_tensor(pred), gt_frames=to_tensor(gt))


def test_metric_scores_windows_per_video_and_writes_frames(tmp_path):
    rng = np.random.default_rng(7)

    def noisy(video):
        return np.clip(video.astype(int) + rng.integers(-20, 21, video.shape), 0, 255).astype(np.uint8)

    gt = rng.integers(0, 256, (4, 70, 72, 3)).astype(np.uint8)
    other_gt = rng.integers(0, 256, (2, 70, 72, 3)).astype(np.uint8)
    pred, other_pred = noisy(gt), noisy(other_gt)
    metric = VideoInpaintingMetric(ewarp=True, output_dir=str(tmp_path / 'out'))
    metric.process({}, [metric_sample(gt[2:], pred[2:], 'v1', [2, 3]), metric_sample(gt[:2], pred[:2], 'v1', [0, 1])])
    # The ground truth may also come from the batch, as the dataset's uint8 (T, 3, H, W) inputs.
    batch = {'inputs': [torch.from_numpy(other_gt).permute(0, 3, 1, 2)]}
    metric.process(batch, [dict(video_name='v2', frame_ids=[0, 1],
                                pred_frames=torch.from_numpy(other_pred).permute(0, 3, 1, 2).float() / 255)])
    results = metric.compute_metrics(metric.results)
    all_gt, all_pred = np.concatenate([gt, other_gt]), np.concatenate([pred, other_pred])
    # Overall PSNR/SSIM average frames (not videos); E_warp averages videos.
    assert results['PSNR'] == pytest.approx(np.mean([psnr(g, p) for g, p in zip(all_gt, all_pred)]))
    assert results['SSIM'] == pytest.approx(np.mean([ssim(g, p) for g, p in zip(all_gt, all_pred)]))
    ewarp_v1 = (warping_error(pred[2:], gt[2:]) + warping_error(pred[:2], gt[:2])) / 2
    assert results['E_warp'] == pytest.approx((ewarp_v1 + warping_error(other_pred, other_gt)) / 2)
    written = cv2.cvtColor(cv2.imread(str(tmp_path / 'out' / 'v1' / '00003.png')), cv2.COLOR_BGR2RGB)
    assert np.array_equal(written, pred[3])
    assert sorted(p.name for p in (tmp_path / 'out' / 'v1').iterdir()) == [f'{i:05d}.png' for i in range(4)]


def test_metric_vfid_uses_one_feature_pair_per_sample(tmp_path, monkeypatch):
    weights = tmp_path / 'i3d.pt'
    torch.save(InceptionI3d().state_dict(), weights)
    captured = {}

    def fake_vfid(real, fake):
        captured['shapes'] = (real.shape, fake.shape)
        return 1.5

    monkeypatch.setattr(metric_module, 'vfid_from_features', fake_vfid)
    metric = VideoInpaintingMetric(i3d_weights=str(weights))
    rng = np.random.default_rng(8)
    for name in ('a', 'b', 'c'):
        video = rng.integers(0, 256, (2, 66, 66, 3)).astype(np.uint8)
        metric.process({}, [metric_sample(video, video, name, [0, 1])])
    assert metric.compute_metrics(metric.results)['VFID'] == 1.5
    assert captured['shapes'] == ((3, I3D_FEATURE_DIM), (3, I3D_FEATURE_DIM))
    assert 'VFID' not in VideoInpaintingMetric(i3d_weights=str(tmp_path / 'absent.pt')).compute_metrics([])


def test_metric_runs_in_an_evaluator_with_prefix_and_reports_errors():
    rng = np.random.default_rng(9)
    gt = rng.integers(0, 256, (2, 66, 66, 3)).astype(np.uint8)
    pred = gt.copy()
    pred[:, :10] = 0
    with DefaultScope.overwrite_default_scope('seg'):
        evaluator = Evaluator(dict(type='VideoInpaintingMetric'))
    evaluator.process([metric_sample(gt, pred, 'only', [0, 1])], {})
    results = evaluator.evaluate(1)
    assert results['inpaint/PSNR'] == pytest.approx(np.mean([psnr(g, p) for g, p in zip(gt, pred)]))
    assert set(results) == {'inpaint/PSNR', 'inpaint/SSIM'}
    metric = VideoInpaintingMetric()
    with pytest.raises(ValueError, match=r"'bad'.*differ in shape"):
        metric.process({}, [metric_sample(gt, pred[:, :, :60], 'bad', [0, 1])])
    with pytest.raises(KeyError, match='no ground truth'):
        metric.process({}, [dict(video_name='x', pred_frames=torch.zeros(1, 3, 66, 66))])
