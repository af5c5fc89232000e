"""FastSAM2 as a whole: routing, one mixed-task step, predict per task, streaming, device moves, checkpoints."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData, PixelData

from seg.fileio.errors import InputError
from seg.models.fastsam2.task_router import TaskError
from seg.registry import MODELS

REPO = Path(__file__).resolve().parents[3]
TOY_CONFIG = REPO / 'configs' / 'fastsam2' / 'fastsam2_r18_toy.py'
SIZE = 64


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(str(TOY_CONFIG))


def build_model(cfg, **overrides):
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.update(overrides)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('seg'):
        return MODELS.build(model_cfg)


def _square(y, x, size=20):
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[y:y + size, x:x + size] = True
    return mask


def _image(seed):
    return torch.randint(0, 256, (3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _meta(name, **extra):
    return dict(img_path=name, img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), scale_factor=(1.0, 1.0), **extra)


def panoptic_sample():
    sample = DetDataSample(metainfo=_meta('panoptic.jpg'))
    masks = torch.stack([_square(4, 4), _square(30, 36)])
    sample.gt_instances = InstanceData(labels=torch.tensor([0, 1]), masks=BitmapMasks(masks.numpy(), SIZE, SIZE),
                                       bboxes=torch.tensor([[4., 4., 24., 24.], [36., 30., 56., 50.]]))
    sem = torch.full((1, SIZE, SIZE), 3, dtype=torch.long)
    sem[:, SIZE // 2:] = 4
    sample.gt_sem_seg = PixelData(sem_seg=sem)
    return _image(0), sample


def interactive_sample():
    sample = DetDataSample(metainfo=_meta('interactive.jpg'))
    masks = torch.stack([_square(4, 4), _square(30, 36)])
    sample.prompts = InstanceData(points=torch.tensor([[[10., 10.]], [[40., 40.]]]),
                                  point_labels=torch.ones(2, 1, dtype=torch.long),
                                  boxes=torch.tensor([[4., 4., 23., 23.], [36., 30., 55., 49.]]))
    sample.gt_instances = InstanceData(masks=masks)
    return _image(1), sample


def referring_sample():
    sample = DetDataSample(metainfo=_meta('referring.jpg'))
    sample.prompts = InstanceData(texts=['the red box on the left'])
    sample.gt_instances = InstanceData(masks=_square(10, 2)[None])
    return _image(2), sample


def vos_sample(num_frames=3):
    frames = []
    for t in range(num_frames):
        frame = DetDataSample(metainfo=_meta(f'vid/{t:05d}.jpg', frame_id=t, frame_name=f'{t:05d}',
                                             video_name='vid'))
        masks = torch.stack([_square(4 + 2 * t, 4), _square(30, 36 - 2 * t)])
        frame.gt_instances = InstanceData(masks=masks, instances_ids=torch.tensor([1, 2]))
        if t == 0:
            frame.prompts = InstanceData(masks=masks.clone())
        frames.append(frame)
    sample = TrackDataSample(video_data_samples=frames, metainfo=dict(video_name='vid'))
    return torch.stack([_image(10 + t) for t in range(num_frames)]), sample


def batch(*makers):
    pairs = [make() for make in makers]
    return dict(inputs=[p[0] for p in pairs], data_samples=[p[1] for p in pairs])


ALL_TASKS = (panoptic_sample, interactive_sample, vos_sample, referring_sample)


def test_router_decides_each_task_from_fields(cfg):
    router = build_model(cfg).task_router
    samples = [make()[1] for make in ALL_TASKS]
    assert [router.task_of(s) for s in samples] == ['panoptic', 'interactive', 'vos', 'referring']
    assert router.route(samples) == dict(panoptic=[0], interactive=[1], vos=[2], referring=[3])
    assert samples[2].metainfo['task'] == 'vos'
    clip = vos_sample()[1]
    clip[0].prompts = InstanceData(points=torch.zeros(2, 1, 2), point_labels=torch.ones(2, 1, dtype=torch.long))
    assert router.task_of(clip) == 'interactive'


@pytest.mark.parametrize('prompts,words', [
    (InstanceData(point_labels=torch.ones(1, 1, dtype=torch.long)), 'no prompt'),
    (InstanceData(scribbles=torch.zeros(1, 3)), 'unknown prompt field'),
])
def test_router_names_the_fields_it_cannot_route(cfg, prompts, words):
    sample = DetDataSample(metainfo=_meta('odd.jpg'))
    sample.prompts = prompts
    with pytest.raises(TaskError, match=words) as error:
        build_model(cfg).task_router.task_of(sample)
    assert 'odd.jpg' in str(error.value) and isinstance(error.value, InputError)


def test_router_refuses_text_on_a_clip_and_tasks_the_model_lacks(cfg):
    clip = vos_sample()[1]
    clip[0].prompts = InstanceData(texts=['a', 'b'])
    router = build_model(cfg).task_router
    with pytest.raises(TaskError, match='clip with text prompts'):
        router.task_of(clip)
    with pytest.raises(TaskError, match="'video_instance' sample"):
        router.task_of(TrackDataSample(video_data_samples=[DetDataSample(metainfo=_meta('f.jpg'))]))


def test_one_training_step_on_four_tasks_reaches_every_parameter(cfg):
    model = build_model(cfg).train()
    data = model.data_preprocessor(batch(*ALL_TASKS), training=True)
    assert data['inputs'].shape == (1 + 1 + 3 + 1, 3, SIZE, SIZE)
    losses = model.loss(data['inputs'], data['data_samples'])
    for task in ('panoptic', 'interactive', 'vos', 'referring'):
        assert f'{task}.loss_mask' in losses and f'{task}.loss_dice' in losses
    assert 'panoptic.loss_cls' in losses and 'interactive.loss_iou' in losses and 'interactive.d0.loss_mask' in losses
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total) and total > 0
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    moved = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    for part in ('backbone.', 'neck.', 'prompt_fusion.', 'memory.', 'panoptic_head.kernels',
                 'panoptic_head.prompt_attn'):
        assert any(n.startswith(part) for n in moved), part


@pytest.mark.skipif(not torch.amp.autocast_mode.is_autocast_available('cpu'), reason='no CPU autocast in this torch')
def test_one_step_on_four_tasks_under_cpu_bfloat16_autocast(cfg):
    """``tools/train.py --amp`` on CPU: the step of every task runs in bfloat16, near the float32 losses."""
    model = build_model(cfg).train()
    data = model.data_preprocessor(batch(*ALL_TASKS), training=True)
    with torch.no_grad():
        torch.manual_seed(1)
        full = model.loss(**copy.deepcopy(data))
    torch.manual_seed(1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(**data)
    assert set(losses) == set(full)
    for task in ('panoptic', 'interactive', 'vos', 'referring'):
        half, single = losses[f'{task}.loss_dice'], full[f'{task}.loss_dice']
        assert torch.isfinite(half) and abs(half.item() - single.item()) < 0.05 * single.item(), task
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grads = [(n, p.grad) for n, p in model.named_parameters() if p.requires_grad]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for _, g in grads)


def test_batch_of_one_task_still_gives_every_parameter_a_gradient(cfg):
    """A process whose batch holds only referring samples must still reach every parameter (DDP)."""
    model = build_model(cfg).train()
    data = model.data_preprocessor(batch(referring_sample, referring_sample), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) >= {'referring.loss_mask', 'referring.loss_dice', 'referring.loss_iou'}
    sum(losses.values()).backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []


def test_loss_weights_scale_a_task(cfg):
    data_cfg = batch(interactive_sample)
    plain = build_model(cfg).train()
    weighted = build_model(cfg, task_router=dict(type='TaskRouter', tasks=('panoptic', 'interactive', 'vos',
                                                                            'referring'),
                                                  loss_weights=dict(interactive=3.0))).train()
    weighted.load_state_dict(plain.state_dict())
    torch.manual_seed(1)
    a = plain.loss(**plain.data_preprocessor(copy.deepcopy(data_cfg), training=True))
    torch.manual_seed(1)
    b = weighted.loss(**weighted.data_preprocessor(copy.deepcopy(data_cfg), training=True))
    torch.testing.assert_close(b['interactive.loss_dice'], 3 * a['interactive.loss_dice'])


def test_predict_gives_each_task_its_result(cfg):
    model = build_model(cfg).eval()
    data = model.data_preprocessor(batch(*ALL_TASKS), training=False)
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    panoptic, interactive, vos, referring = results
    assert panoptic.pred_panoptic_seg.sem_seg.shape == (1, SIZE, SIZE) and panoptic.metainfo['task'] == 'panoptic'
    assert interactive.pred_instances.masks.shape == (2, SIZE, SIZE)
    assert interactive.pred_instances.ious.shape == (2,)
    assert referring.pred_instances.masks.shape == (1, SIZE, SIZE) and referring.metainfo['task'] == 'referring'
    assert vos['task'] == 'vos' and vos['name'] == 'vid'
    assert vos['pred'].shape == vos['gt'].shape == (3, SIZE, SIZE)
    assert set(vos['gt'][0].ravel().tolist()) == {0, 1, 2}


def test_predict_under_cpu_autocast_gives_each_task_its_result(cfg):
    """bfloat16 autocast (tools/benchmark/fastsam2_speed.py --amp on CPU): prompt tokens and deformable
    convolutions come out in bfloat16 and must still fit the float32 parts."""
    model = build_model(cfg).eval()
    data = model.data_preprocessor(batch(*ALL_TASKS), training=False)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        panoptic, interactive, vos, referring = model.predict(data['inputs'], data['data_samples'])
    assert panoptic.pred_panoptic_seg.sem_seg.shape == (1, SIZE, SIZE)
    assert interactive.pred_instances.masks.shape == (2, SIZE, SIZE)
    assert referring.pred_instances.masks.shape == (1, SIZE, SIZE)
    assert vos['pred'].shape == (3, SIZE, SIZE)


def test_images_of_different_sizes_keep_their_ground_truth_size_at_test(cfg):
    """The metrics compare pred and gt masks at the image's size; only the losses need padded ground truth."""
    def wide_referring():
        sample = DetDataSample(metainfo=dict(_meta('wide.jpg'), img_shape=(SIZE, SIZE + 32),
                                             ori_shape=(SIZE, SIZE + 32)))
        sample.prompts = InstanceData(texts=['the wide one'])
        sample.gt_instances = InstanceData(masks=torch.zeros(1, SIZE, SIZE + 32, dtype=torch.bool))
        return torch.zeros(3, SIZE, SIZE + 32, dtype=torch.uint8), sample

    model = build_model(cfg).eval()
    train = model.data_preprocessor(batch(referring_sample, wide_referring), training=True)
    assert [s.gt_instances.masks.shape[-2:] for s in train['data_samples']] == [(SIZE, SIZE + 32)] * 2
    test = model.data_preprocessor(batch(referring_sample, wide_referring), training=False)
    with torch.no_grad():
        results = model.predict(test['inputs'], test['data_samples'])
    for result in results:
        assert result.pred_instances.masks.shape == result.gt_instances.masks.shape


def _stream(model, clip, feats):
    """Masks as (H, W) id maps, one frame at a time through ``stream_step``."""
    model.memory.reset()
    ids_per_frame, logits_per_frame = [], []
    for t, frame in enumerate(clip):
        prompts = None
        if 'prompts' in frame:
            prompts = {k: frame.prompts[k:k + 1] for k in range(len(frame.prompts))}
        ids, logits = model.stream_step(feats[t], frame, prompts)
        assert ids == [0, 1]
        best, index = logits.max(0)
        ids_per_frame.append(torch.where(best > 0, index + 1, 0).to(torch.uint8).numpy())
        logits_per_frame.append(logits)
    return np.stack(ids_per_frame), torch.stack(logits_per_frame)


def test_streamed_frames_give_the_masks_of_the_whole_clip(cfg):
    model = build_model(cfg).eval()
    data = model.data_preprocessor(batch(lambda: vos_sample(4)), training=False)
    clip = data['data_samples'][0]
    with torch.no_grad():
        whole = model.predict(data['inputs'], data['data_samples'])[0]['pred']
        # the same features: the streaming path is the clip path, bit for bit
        same, _ = _stream(model, clip, model.extract_feat(data['inputs']))
        assert np.array_equal(whole, same)
        # each frame through the backbone alone, as a live stream does: convolutions of a batch of 1
        # round differently (features differ by ~1e-6), so a pixel at a logit of ~0 may flip
        frames = torch.cat([model.extract_feat(data['inputs'][t:t + 1]) for t in range(len(clip))])
        alone, alone_logits = _stream(model, clip, frames)
        _, batch_logits = _stream(model, clip, model.extract_feat(data['inputs']))
    torch.testing.assert_close(alone_logits, batch_logits, rtol=0, atol=1e-3)
    assert (alone != whole).mean() < 1e-3


def test_every_buffer_and_parameter_follows_to(cfg):
    model = build_model(cfg).to(torch.device('meta'))
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    assert any('positional_encoding_gaussian_matrix' in n for n in tensors)
    assert {name for name, t in tensors.items() if t.device.type != 'meta'} == set()
    model = build_model(cfg).to(torch.float64)
    assert all(t.dtype == torch.float64 for t in model.prompt_fusion.buffers() if t.is_floating_point())


def test_a_rapsam_checkpoint_initialises_it_with_only_the_new_modules_missing(cfg):
    rapsam_cfg = Config.fromfile(str(REPO / 'configs' / 'rapsam' / 'rapsam_r18_toy.py'))
    with DefaultScope.overwrite_default_scope('seg'):
        rapsam = MODELS.build(rapsam_cfg.model)
    model = build_model(cfg)
    result = model.load_state_dict(rapsam.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert {k.split('.')[0] for k in result.missing_keys} == {'prompt_fusion', 'memory', 'prompt_feature_proj'}


@pytest.mark.parametrize('field,value,words', [
    ('points', torch.tensor([[[70., 10.]]]), 'outside'),
    ('boxes', torch.tensor([[30., 10., 20., 40.]]), 'x2'),
    ('masks', torch.zeros(1, 32, 32, dtype=torch.bool), 'size'),
    ('texts', ['  '], 'empty'),
])
def test_bad_prompts_get_one_clear_error(cfg, field, value, words):
    model = build_model(cfg).eval()
    sample = DetDataSample(metainfo=_meta('bad.jpg'))
    prompts = InstanceData()
    if field == 'points':
        prompts.points = value
        prompts.point_labels = torch.ones(1, 1, dtype=torch.long)
    else:
        prompts[field] = value
    sample.prompts = prompts
    sample.gt_instances = InstanceData(masks=_square(0, 0)[None])
    data = model.data_preprocessor(dict(inputs=[_image(3)], data_samples=[sample]), training=False)
    with pytest.raises(InputError, match=words):
        model.predict(data['inputs'], data['data_samples'])


def test_streamed_objects_may_differ_in_their_prompt_fields(cfg):
    """One frame prompts a click, a box with a text and two clicks with a mask: each is fused as if alone."""
    model = build_model(cfg).eval()
    sample = DetDataSample(metainfo=_meta('frame.jpg'))
    data = model.data_preprocessor(dict(inputs=[_image(4)], data_samples=[sample]), training=False)
    frame = data['data_samples'][0]
    prompts = {
        5: InstanceData(points=torch.tensor([[[10., 12.]]]), point_labels=torch.ones(1, 1, dtype=torch.long)),
        2: InstanceData(boxes=torch.tensor([[4., 4., 30., 30.]]), texts=['the square']),
        9: InstanceData(points=torch.tensor([[[40., 40.], [5., 50.]]]), point_labels=torch.tensor([[1, 0]]),
                        masks=_square(30, 30)[None]),
        7: InstanceData(points=torch.tensor([[[20., 40.], [50., 8.], [3., 3.]]]),
                        point_labels=torch.tensor([[1, 1, 0]]), masks=_square(0, 0)[None]),
    }
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])[0]
        together = model._object_queries(prompts, frame, feats)
        alone = {k: model._object_queries({k: p}, frame, feats)[k] for k, p in prompts.items()}
        model.memory.reset()
        ids, logits = model.stream_step(feats, frame, prompts)
    assert list(together) == ids == [2, 5, 7, 9]
    for k in ids:
        torch.testing.assert_close(together[k], alone[k])
    assert logits.shape == (4, SIZE, SIZE)
    with torch.no_grad():
        ids, logits = model.stream_step(model.extract_feat(data['inputs'])[0], frame, remove=[2, 5, 7, 9])
    assert ids == [] and logits.shape == (0, SIZE, SIZE)
