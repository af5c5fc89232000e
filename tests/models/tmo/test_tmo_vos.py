"""TMOVOS: RAFT-style flow images, DIS flow, whole-video prediction, DAVIS16EvalDataset and the TMO configs."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import load_checkpoint
from PIL import Image

from seg.datasets.davis16_eval_dataset import DAVIS16EvalDataset
from seg.toy_data import make_davis
from seg.datasets.vos_clip_dataset import VOSDataError
from seg.evaluation.metrics.davis_metric import DAVISMetric
from seg.models.tmo.flow_images import render_flow, video_flow_images
from seg.models.tmo.tmo_vos import TMOVOS, _unit_rgb
from seg.registry import DATASETS, MODELS
from seg.utils.optical_flow import dis_flow

REPO = Path(__file__).resolve().parents[3]
SIZE = 64


# ---------------------------------------------------------------------------------------------- flow images
def _wheel() -> np.ndarray:
    """Baker et al.'s 55-colour wheel (red → yellow → green → cyan → blue → magenta → red)."""
    rows = []
    for steps, fixed, rising, falling in ((15, 0, 1, None), (6, 1, None, 0), (4, 1, 2, None),
                                          (11, 2, None, 1), (13, 2, 0, None), (6, 0, None, 2)):
        for i in range(steps):
            colour = np.zeros(3)
            colour[fixed] = 255
            ramp = np.floor(255 * i / steps)
            if rising is not None:
                colour[rising] = ramp
            else:
                colour[falling] = 255 - ramp
            rows.append(colour)
    return np.array(rows)


def _raft_colours(flow: np.ndarray) -> np.ndarray:
    """RAFT's flow_viz rule, written out: divide by (largest length + 1e-5), hue from the angle, fade to white."""
    wheel = _wheel()
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    scale = np.sqrt(u**2 + v**2).max() + 1e-5
    u, v = u / scale, v / scale
    radius = np.sqrt(u**2 + v**2)
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (len(wheel) - 1)
    k0 = np.floor(position).astype(int)
    k1 = (k0 + 1) % len(wheel)
    frac = (position - k0)[..., None]
    colour = ((1 - frac) * wheel[k0] + frac * wheel[k1]) / 255
    return np.floor(255 * (1 - radius[..., None] * (1 - colour))).astype(np.uint8)


def test_flow_images_follow_raft_colour_wheel():
    assert (render_flow(np.zeros((4, 5, 2), np.float32)) == 255).all()  # still = white
    expected = {(1, 0): (255, 0, 0), (0, 1): (255, 229, 0), (-1, 0): (0, 209, 255), (0, -1): (88, 0, 255)}
    for (dx, dy), colour in expected.items():
        flow = np.zeros((3, 3, 2), np.float32)
        flow[1, 1] = (dx, dy)
        image = render_flow(flow)
        np.testing.assert_array_equal(image[1, 1], colour)  # the largest vector gets the full hue
        assert (image[0, 0] == 255).all()
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 4, (20, 24, 2)).astype(np.float32)
    assert np.abs(render_flow(flow).astype(int) - _raft_colours(flow)).max() <= 1
    # Each field is normalised by its own largest vector (torchvision alone would share it over a batch).
    both = np.stack([np.full((2, 2, 2), (0.01, 0), np.float32), np.full((2, 2, 2), (50, 0), np.float32)])
    assert (render_flow(both) == np.array([255, 0, 0], np.uint8)).all()
    tensor = torch.from_numpy(both).permute(0, 3, 1, 2)
    np.testing.assert_array_equal(render_flow(tensor), render_flow(both))


def _texture(seed=0, shape=(64, 80)) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, shape).astype(np.float32)
    grey = cv2.GaussianBlur(noise, (0, 0), 2)
    grey = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


def test_dis_flow_of_a_translation():
    first = _texture()
    moved = np.roll(first, 3, axis=1)  # content goes 3 px right
    flow = dis_flow(first, moved)
    centre = flow[16:-16, 16:-16]
    assert np.median(centre[..., 0]) == pytest.approx(3, abs=0.3) and abs(np.median(centre[..., 1])) < 0.3
    down = dis_flow(first, np.roll(first, 2, axis=0), preset='fast')[16:-16, 16:-16]
    assert np.median(down[..., 1]) == pytest.approx(2, abs=0.3)

    frames = np.stack([np.roll(first, 3 * t, axis=1) for t in range(3)])
    images = video_flow_images(frames)
    assert images.shape == (3, 64, 80, 3) and images.dtype == np.uint8
    centre = images[:, 24:40, 30:50].reshape(3, -1, 3).mean(1)
    assert centre[0, 0] > 200 and centre[0, 2] < 100  # rightward: red
    assert centre[2, 2] > 200 and centre[2, 0] < 100  # last frame, backward (leftward): cyan
    previous = video_flow_images(frames, last_frame='previous')
    np.testing.assert_array_equal(previous[2], previous[1])
    assert (video_flow_images(frames[:1]) == 255).all()
    assert video_flow_images(frames, size=(32, 40)).shape == (3, 32, 40, 3)
    with pytest.raises(ValueError, match='preset'):
        video_flow_images(frames, preset='slow')


# ---------------------------------------------------------------------------------------------- prediction
@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    return TMOVOS(network=dict(input_size=SIZE)).eval()


class _MotionInputs:
    """Records what the motion encoder is fed."""

    def __init__(self, model):
        self.seen = []
        self.handle = model.network.vos.mo_encoder.register_forward_pre_hook(
            lambda module, args: self.seen.append(args[0].clone()))

    def close(self):
        self.handle.remove()


def _resized(images: torch.Tensor) -> torch.Tensor:
    return F.interpolate(images.float(), size=(SIZE, SIZE), mode='bicubic')


def test_predict_shapes_gt_and_metric(model):
    frames = torch.from_numpy(np.stack([np.roll(_texture(1, (40, 48)), 2 * t, axis=1) for t in range(3)]))
    frames = frames.permute(0, 3, 1, 2).contiguous()
    gt = np.zeros((3, 40, 48), np.uint8)
    gt[:, 5:20, 5:20], gt[:, 25:35, 30:40], gt[:, 0, :] = 2, 3, 255
    spy = _MotionInputs(model)
    try:
        results = model.predict([frames], [gt], ['clip'], frame_names=[['0', '1', '2']], palette=[None])
    finally:
        spy.close()
    result = results[0]
    assert result['name'] == 'clip' and result['frame_names'] == ['0', '1', '2'] and result['palette'] is None
    assert result['pred'].shape == (3, 40, 48) and result['pred'].dtype == np.uint8
    assert set(np.unique(result['pred'])) <= {0, 1}
    assert set(np.unique(result['gt'])) == {0, 1, 255} and (result['gt'][:, 10, 10] == 1).all()
    dis_images = torch.from_numpy(video_flow_images(frames.permute(0, 2, 3, 1).numpy())).permute(0, 3, 1, 2)
    torch.testing.assert_close(torch.cat(spy.seen), _resized(dis_images / 255))  # DIS flow without given flows
    metric = DAVISMetric(task='binary')
    metric.process({}, results)
    scores = metric.compute_metrics(metric.results)
    pred, fg = result['pred'][1] > 0, result['gt'][1] == 1  # only the middle frame is scored; void counts as 0
    union = (pred | fg).sum()
    assert scores['J-Mean'] == pytest.approx((pred & fg).sum() / union if union else 1.0)
    assert scores['J&F-Mean'] == pytest.approx((scores['J-Mean'] + scores['F-Mean']) / 2)
    perfect = DAVISMetric(task='binary')
    perfect.process({}, [dict(result, pred=(result['gt'] == 1).astype(np.uint8))])
    assert perfect.compute_metrics(perfect.results)['J&F-Mean'] == 1.0
    assert torch.equal(_unit_rgb(frames.float() / 255, 'frames', 'clip'), frames.float() / 255)
    with pytest.raises(ValueError, match='ImageNet'):
        model.predict([frames.float() / 255 - 0.5], [gt], ['clip'])


def test_predict_uses_given_flows(model):
    frames = (torch.rand(2, 3, 40, 48) * 255).to(torch.uint8)
    gt = np.zeros((2, 40, 48), np.uint8)
    still = torch.full((2, 3, 20, 24), 255, dtype=torch.uint8)  # flow images at another size are fine
    raw = torch.randn(2, 2, 40, 48) * 5  # (x, y) px: rendered by TMOVOS
    spy = _MotionInputs(model)
    try:
        white = model.predict([frames], [gt], ['a'], flows=[still])[0]['pred']
        moving = model.predict([frames], [gt], ['a'], flows=[raw])[0]['pred']
    finally:
        spy.close()
    rendered = torch.from_numpy(render_flow(raw)).permute(0, 3, 1, 2)
    torch.testing.assert_close(torch.cat(spy.seen[:2]), _resized(still / 255))
    torch.testing.assert_close(torch.cat(spy.seen[2:]), _resized(rendered / 255))
    assert (white != moving).any()
    with pytest.raises(ValueError, match='3 flow images'):
        model.predict([frames], [gt], ['a'], flows=[torch.zeros(3, 3, 40, 48)])


def test_checkpoints(model, tmp_path, monkeypatch):
    official = {k: v.clone() for k, v in model.network.state_dict().items()}  # vos.* as TMO_rn101.pth
    torch.save(official, tmp_path / 'TMO_rn101.pth')
    loaded = TMOVOS(network=dict(input_size=SIZE), checkpoint=str(tmp_path / 'TMO_rn101.pth'))
    weight = 'vos.decoder.predictor.conv.weight'
    assert torch.equal(loaded.network.state_dict()[weight], official[weight])
    # tools/test.py path (mmengine load_checkpoint): official names land in network.vos.*, strictly.
    with torch.no_grad():
        loaded.network.vos.decoder.predictor.conv.weight.zero_()
    load_checkpoint(loaded, str(tmp_path / 'TMO_rn101.pth'), strict=True)
    assert torch.equal(loaded.network.state_dict()[weight], official[weight])
    asked = []
    monkeypatch.setattr(loaded, 'load_checkpoint', asked.append)
    loaded.init_cfg = dict(type='Pretrained', checkpoint='checkpoints/TMO_rn101.pth')
    loaded.init_weights()
    assert asked == ['checkpoints/TMO_rn101.pth']
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match='TMO_rn101.pth'):
        loaded.load_checkpoint(tmp_path / 'missing.pth')
    with pytest.raises(ValueError, match='local'):
        loaded.load_checkpoint('https://example.com/TMO_rn101.pth')
    with pytest.raises(NotImplementedError):
        loaded(None, mode='loss')


# ---------------------------------------------------------------------------------------------- dataset
def _write_flows(root: Path, name: str, stems, size=(32, 48)):
    folder = root / 'JPEGFlows' / '480p' / name
    folder.mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(stems):
        Image.fromarray(np.full((*size, 3), 40 * i, np.uint8)).save(folder / f'{stem}.png')
    return folder


@pytest.fixture()
def davis17(tmp_path):
    root = make_davis(tmp_path / 'davis', num_train=1, num_val=1, num_frames=3, height=32, width=48)
    name = (root / 'ImageSets' / '2017' / 'val.txt').read_text().split()[0]
    return root, name


def test_davis2017_layout_merges_objects_and_reads_flows(davis17):
    root, name = davis17
    mask_path = sorted((root / 'Annotations' / '480p' / name).glob('*.png'))[1]
    with Image.open(mask_path) as im:
        ids, palette = np.array(im), im.getpalette()
    assert ids.max() >= 2
    ids[0, :4] = 255
    void = Image.fromarray(ids, mode='P')
    void.putpalette(palette)
    void.save(mask_path)
    stems = [p.stem for p in sorted((root / 'JPEGImages' / '480p' / name).glob('*.jpg'))]
    _write_flows(root, name, stems)
    item = DAVIS16EvalDataset(str(root), year='2017', flow_dir='JPEGFlows/480p')[0]
    assert item['frames'].shape == (3, 3, 32, 48) and item['frames'].dtype == torch.uint8
    assert item['flows'].shape == (3, 3, 32, 48) and int(item['flows'][2].max()) == 80
    assert item['gt'].shape == (3, 32, 48) and set(np.unique(item['gt'])) == {0, 1, 255}
    assert (item['gt'][1, 0, :4] == 255).all() and item['palette'].shape == (256, 3)
    assert item['frame_names'] == stems and item['name'] == name
    assert 'flows' not in DAVIS16EvalDataset(str(root), year='2017')[0]


def test_davis2016_layout_grey_masks(tmp_path):
    root = tmp_path / 'DAVIS2016'
    lines = []
    for t in range(3):
        frame = root / 'JPEGImages' / '480p' / 'bear' / f'{t:05d}.jpg'
        mask = root / 'Annotations' / '480p' / 'bear' / f'{t:05d}.png'
        frame.parent.mkdir(parents=True, exist_ok=True)
        mask.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 24, 3), 100, np.uint8)).save(frame)
        grey = np.zeros((16, 24), np.uint8)
        grey[4:10, 4:12] = 255
        (Image.fromarray(grey > 0) if t == 2 else Image.fromarray(grey, mode='L')).save(mask)  # 1-bit too
        lines.append(f'/JPEGImages/480p/bear/{t:05d}.jpg /Annotations/480p/bear/{t:05d}.png')
    (root / 'ImageSets' / '480p').mkdir(parents=True)
    (root / 'ImageSets' / '480p' / 'val.txt').write_text('\n'.join(lines) + '\n')
    dataset = DAVIS16EvalDataset(str(root))
    assert dataset.layout == 'davis2016' and dataset.names == ['bear']
    item = dataset[0]
    assert set(np.unique(item['gt'])) == {0, 1} and item['gt'][:, 5, 5].tolist() == [1, 1, 1]
    assert item['gt'][:, 0, 0].tolist() == [0, 0, 0] and item['palette'].shape == (256, 3)


def test_dataset_errors(davis17, tmp_path):
    root, name = davis17
    with pytest.raises(VOSDataError, match='not found'):
        DAVIS16EvalDataset(str(tmp_path / 'nowhere'))
    with pytest.raises(VOSDataError, match='ImageSets'):
        DAVIS16EvalDataset(str(root))  # no ImageSets/2016/val.txt in a 2017 toy root
    with pytest.raises(VOSDataError, match='flow folder'):
        DAVIS16EvalDataset(str(root), year='2017', flow_dir='JPEGFlows/480p')
    stems = [p.stem for p in sorted((root / 'JPEGImages' / '480p' / name).glob('*.jpg'))]
    (root / 'JPEGFlows' / '480p' / 'other').mkdir(parents=True)
    dataset = DAVIS16EvalDataset(str(root), year='2017', flow_dir='JPEGFlows/480p')
    with pytest.raises(VOSDataError, match='no flow images'):
        dataset[0]
    folder = _write_flows(root, name, stems[:-1])
    with pytest.raises(VOSDataError, match='3 frames but 2 flow images'):
        dataset[0]
    _write_flows(root, name, stems[-1:], size=(16, 24))
    with pytest.raises(VOSDataError, match='differ'):
        dataset[0]
    (folder / f'{stems[-1]}.png').write_bytes(b'not a png')
    with pytest.raises(VOSDataError, match='cannot read image'):
        dataset[0]
    (root / 'JPEGImages' / '480p' / name / f'{stems[0]}.jpg').write_bytes(b'not a jpeg')
    with pytest.raises(VOSDataError, match='cannot read image'):
        DAVIS16EvalDataset(str(root), year='2017')[0]


# ---------------------------------------------------------------------------------------------- configs
def test_configs(davis17):
    official = Config.fromfile(REPO / 'configs' / 'tmo' / 'tmo_davis16.py')
    assert official.model.network == dict(aos=False, input_size=384)
    assert official.load_from == 'checkpoints/TMO_rn101.pth' and official.test_evaluator.task == 'binary'
    data = official.test_dataloader.dataset
    assert (data.layout, data.year, data.flow_dir) == ('davis2017', '2016', 'JPEGFlows/480p')
    toy = Config.fromfile(REPO / 'configs' / 'tmo' / 'tmo_toy.py')
    assert toy.model.network.input_size == 128 and toy.val_dataloader.dataset.flow_dir is None
    root, _ = davis17
    with DefaultScope.overwrite_default_scope('seg'):
        item = DATASETS.build(dict(toy.test_dataloader.dataset, data_root=str(root)))[0]
        built = MODELS.build(toy.model)
    assert item['frames'].shape == (3, 3, 32, 48) and isinstance(built, TMOVOS)
    assert built.network.input_size == 128 and built.flow['preset'] == 'medium'


@pytest.mark.slow
def test_tools_test_on_toy_data(davis17, tmp_path):
    from seg.apis import test
    from seg.models.tmo import TMO
    root, _ = davis17
    torch.manual_seed(0)
    torch.save(TMO(input_size=SIZE).state_dict(), tmp_path / 'tmo.pth')
    metrics = test(str(REPO / 'configs' / 'tmo' / 'tmo_toy.py'), str(tmp_path / 'tmo.pth'),
                   work_dir=str(tmp_path / 'work'),
                   cfg_options={'test_dataloader.dataset.data_root': str(root), 'model.network.input_size': SIZE})
    assert 0 <= metrics['davis/J&F-Mean'] <= 1
