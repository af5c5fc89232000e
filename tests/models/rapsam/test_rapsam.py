"""RapSAM assembled from the toy config: devices, losses on real toy batches, prompts, vocabulary."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from seg.toy_data import make_coco_panoptic
from seg.models.utils.class_embedding import ClassEmbeddingNotFoundError
from seg.registry import DATASETS, MODELS, TRANSFORMS

REPO = Path(__file__).resolve().parents[3]
TOY_CONFIG = REPO / 'configs' / 'rapsam' / 'rapsam_r18_toy.py'


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    make_coco_panoptic(root / 'coco_panoptic', num_train=4, num_val=2)
    return root / 'coco_panoptic'


@pytest.fixture(scope='module')
def cfg(toy_root):
    cfg = Config.fromfile(TOY_CONFIG)
    for dataset in cfg.train_dataloader.dataset.datasets:
        dataset.get('dataset', dataset).data_root = str(toy_root) + '/'  # RepeatDataset wraps the COCO-SAM one
    cfg.val_dataloader.dataset.data_root = str(toy_root) + '/'
    return cfg


def build_model(cfg, seed=0):
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('seg'):
        return MODELS.build(copy.deepcopy(cfg.model))


def batch_of(cfg, source: int, indices=(0, 1)):
    with DefaultScope.overwrite_default_scope('seg'):
        dataset = DATASETS.build(copy.deepcopy(cfg.train_dataloader.dataset.datasets[source]))
    return pseudo_collate([dataset[i] for i in indices])


def test_every_buffer_and_parameter_follows_to(cfg):
    model = build_model(cfg).to(torch.device('meta'))
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    assert 'panoptic_head.fc_cls' in tensors and 'panoptic_head.logit_scale' in tensors
    assert {name for name, t in tensors.items() if t.device.type != 'meta'} == set()
    model = build_model(cfg).to(torch.float64)
    assert model.panoptic_head.fc_cls.dtype == torch.float64


@pytest.mark.parametrize('source,tag', [(0, 'coco'), (1, 'sam')])
def test_one_training_step_on_toy_batches(cfg, source, tag):
    model = build_model(cfg).train()
    data = model.data_preprocessor(batch_of(cfg, source), training=True)
    assert all(s.metainfo['data_tag'] == tag for s in data['data_samples'])
    if tag == 'sam':
        prompts = data['data_samples'][0].gt_instances_collected
        assert prompts.point_coords.shape == (30, 4) and prompts.masks.shape[0] == 30
        centres = ((prompts.point_coords[:, :2] + prompts.point_coords[:, 2:]) / 2).long()
        assert prompts.masks[torch.arange(30), centres[:, 1], centres[:, 0]].all(), 'clicks lie in their segment'
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) >= {'loss_cls', 'loss_mask', 'loss_dice', 'loss_iou', 'd0.loss_mask', 'd2.loss_dice'}
    total = sum(v for v in losses.values())
    assert torch.isfinite(total) and total > 0
    total.backward()
    used = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert ('panoptic_head.kernels.weight' in used) == (tag == 'coco')
    assert ('panoptic_head.pb_embedding.weight' in used) == (tag == 'sam')
    assert any(n.startswith('backbone.') for n in used) and any(n.startswith('neck.') for n in used)


def test_predict_panoptic_and_prompts(cfg):
    model = build_model(cfg).eval()
    with DefaultScope.overwrite_default_scope('seg'):
        val = DATASETS.build(copy.deepcopy(cfg.val_dataloader.dataset))
    data = model.data_preprocessor(pseudo_collate([val[0]]), training=False)
    with torch.no_grad():
        result = model.predict(data['inputs'], data['data_samples'])[0]
    h, w = result.metainfo['ori_shape']
    assert result.pred_panoptic_seg.sem_seg.shape == (1, h, w)
    assert result.pred_instances.masks.shape[1:] == (h, w)

    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
    boxes = torch.tensor([[10., 10., 16., 16.], [40., 50., 46., 56.]])
    sample.gt_instances_collected = InstanceData(point_coords=boxes, pb_labels=torch.ones(2, dtype=torch.long))
    data = model.data_preprocessor(dict(inputs=[val[0]['inputs']], data_samples=[sample]), training=False)
    with torch.no_grad():
        result = model.predict(data['inputs'], data['data_samples'])[0]
    assert result.pred_instances.masks.shape == (2, h, w) and result.pred_instances.ious.shape == (2,)


def test_prompts_see_only_themselves(cfg):
    """Adding a prompt does not change the masks of the others (block-diagonal self-attention)."""
    head = build_model(cfg).panoptic_head.eval()
    x = torch.randn(1, 64, 16, 16)

    def masks(boxes):
        sample = DetDataSample(metainfo=dict(img_shape=(64, 64)))
        sample.gt_instances_collected = InstanceData(point_coords=torch.tensor(boxes),
                                                     pb_labels=torch.ones(len(boxes), dtype=torch.long))
        with torch.no_grad():
            return head(x, [sample])[1][-1][0]

    one = masks([[5., 5., 11., 11.]])
    two = masks([[5., 5., 11., 11.], [30., 40., 36., 46.]])
    torch.testing.assert_close(two[0], one[0], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(two[1], two[0])


def test_vocabulary_swap_and_missing_file(cfg, tmp_path):
    model = build_model(cfg)
    head = model.panoptic_head
    x = torch.randn(1, 64, 8, 8)
    sample = DetDataSample(metainfo=dict(img_shape=(32, 32)))
    with torch.no_grad():
        before = head(x, [sample])[0][-1]
        new = torch.nn.functional.normalize(torch.randn(head.num_classes, 2, 32), dim=-1)
        head.set_class_embeddings(new)
        after = head(x, [sample])[0][-1]
    assert not torch.allclose(before[..., :-1], after[..., :-1])
    assert torch.equal(after[..., -1], torch.zeros_like(after[..., -1])), 'background logit is cos with a zero row'
    with pytest.raises(ValueError, match='num_classes=5'):
        head.set_class_embeddings(torch.randn(7, 1, 32))
    with pytest.raises(ValueError, match='same CLIP model'):
        head.set_class_embeddings(torch.randn(5, 1, 16))
    broken = copy.deepcopy(cfg.model)
    broken.panoptic_head.class_embed_path = str(tmp_path / 'missing.pth')
    with pytest.raises(ClassEmbeddingNotFoundError, match='tools/gen_cls.py'):
        with DefaultScope.overwrite_default_scope('seg'):
            MODELS.build(broken)


def test_stuff_segments_become_instances():
    seg_map = np.full((6, 8), 3, dtype=np.int32)
    seg_map[:, 6:] = 4
    seg_map[0, 0] = 255
    thing = np.zeros((1, 6, 8), dtype=np.uint8)
    thing[0, 2:4, 2:4] = 1
    seg_map[2:4, 2:4] = 0
    from mmdet.structures.mask import BitmapMasks
    results = dict(gt_seg_map=seg_map, gt_masks=BitmapMasks(thing, 6, 8),
                   gt_bboxes=np.array([[2, 2, 4, 4]], dtype=np.float32), gt_bboxes_labels=np.array([0]),
                   gt_ignore_flags=np.array([False]))
    out = TRANSFORMS.build(dict(type='PanopticSegmentsAsInstances', num_things=3)).transform(results)
    assert out['gt_bboxes_labels'].tolist() == [0, 3, 4]
    assert out['gt_masks'].masks.shape == (3, 6, 8)
    assert out['gt_masks'].masks[1].sum() == (seg_map == 3).sum()
    assert out['gt_bboxes'][2].tolist() == [6, 0, 8, 6]


def test_task_batch_sampler_never_mixes_sources():
    from torch.utils.data import ConcatDataset, RandomSampler
    from seg.datasets.samplers import TaskBatchSampler
    dataset = ConcatDataset([list(range(7)), list(range(5)), list(range(3))])
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(0))
    sampler.dataset = dataset
    batches = list(TaskBatchSampler(sampler, batch_size=2))
    sampler_of = TaskBatchSampler(sampler, batch_size=2).source_of
    assert all(len({sampler_of(i) for i in batch}) == 1 for batch in batches)
    assert sorted(i for batch in batches for i in batch) == list(range(15))
    assert sum(len(b) == 1 for b in batches) == 3, 'one odd leftover per source'


def test_random_vocabulary_is_the_same_in_every_build(cfg):
    """Without a class-embedding file the vocabulary is drawn from a fixed seed: checkpoints do not store it."""
    first = build_model(cfg, seed=1).panoptic_head.fc_cls
    second = build_model(cfg, seed=2).panoptic_head.fc_cls
    assert torch.equal(first, second)
    embed = first[:, :-1, 0]
    torch.testing.assert_close(embed.T @ embed, torch.eye(embed.shape[1]), atol=1e-5, rtol=0)
