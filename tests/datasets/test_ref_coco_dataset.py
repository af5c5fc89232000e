"""RefCOCODataset + PackReferringInputs on the toy RefCOCO layout: items, the packed sample's format, masks that
match the annotations, and refs files that are refused (tampered, corrupt, mismatched) with the file named."""
import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from seg.datasets.ref_coco_dataset import RefCOCODataError, RefCOCODataset
from seg.fileio import InputError, load_plain_pickle
from seg.registry import DATASETS, METRICS
from seg.toy_data import make_refcoco

TRAIN_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                  dict(type='PackReferringInputs')]
# As the module describes: annotations loaded after Resize stay at the original size.
TEST_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(160, 120), keep_ratio=True),
                 dict(type='LoadAnnotations', with_bbox=True, with_mask=True), dict(type='PackReferringInputs')]


class RunsCommand:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.fixture(autouse=True)
def seg_scope():
    init_default_scope('seg')


@pytest.fixture(scope='module')
def toy(tmp_path_factory) -> Path:
    return make_refcoco(tmp_path_factory.mktemp('toy') / 'refcoco', num_train=6, num_val=3, num_test=1, height=64,
                        width=80)


@pytest.fixture(scope='module')
def coco(toy):
    from pycocotools.coco import COCO
    return COCO(str(toy / 'refcoco' / 'instances.json'))


@pytest.fixture(scope='module')
def refs(toy) -> list:
    return load_plain_pickle(toy / 'refcoco' / 'refs(unc).p')


def build(root: Path, **kwargs) -> RefCOCODataset:
    return DATASETS.build(dict(type='RefCOCODataset', data_root=str(root), **{'pipeline': TRAIN_PIPELINE, **kwargs}))


def copy_layout(toy: Path, dest: Path) -> Path:
    """A copy of the toy layout's annotation files (images linked) to spoil."""
    (dest / 'refcoco').mkdir(parents=True)
    (dest / 'train2014').symlink_to(toy / 'train2014')
    for name in ('instances.json', 'refs(unc).p'):
        (dest / 'refcoco' / name).write_bytes((toy / 'refcoco' / name).read_bytes())
    return dest


@pytest.mark.parametrize('split', ['train', 'val', 'testA', 'testB'])
def test_items_per_sentence_and_per_ref(toy, refs, split):
    split_refs = [r for r in refs if r['split'] == split]
    every = build(toy, split=split)
    assert len(every) == sum(len(r['sentences']) for r in split_refs)
    pairs = [(r['ref_id'], s['sent_id'], s['raw'].lower()) for r in split_refs for s in r['sentences']]
    infos = [every.get_data_info(i) for i in range(len(every))]
    assert [(d['ref_id'], d['sent_ids'][0], d['texts'][0]) for d in infos] == pairs
    per_ref = build(toy, split=split, text_mode='random')
    assert len(per_ref) == len(split_refs)
    assert every.metainfo['classes'] == ('disk', 'box', 'triangle')


def test_packed_sample_format_and_masks_match_the_annotation(toy, coco, refs):
    dataset = build(toy, split='val')
    by_sent = {s['sent_id']: (r, s) for r in refs for s in r['sentences']}
    for idx in range(len(dataset)):
        packed = dataset[idx]
        assert set(packed) == {'inputs', 'data_samples'}
        inputs, sample = packed['inputs'], packed['data_samples']
        assert isinstance(inputs, torch.Tensor) and inputs.dtype == torch.uint8 and inputs.shape == (3, 64, 80)
        assert isinstance(sample, DetDataSample)
        ref, sentence = by_sent[sample.sent_id]
        ann = coco.anns[ref['ann_id']]
        image = coco.imgs[ref['image_id']]
        assert sample.metainfo['img_path'] == str(toy / 'train2014' / image['file_name'])
        assert sample.ori_shape == sample.img_shape == (64, 80)
        assert (sample.img_id, sample.ref_id, sample.ann_id) == (image['id'], ref['ref_id'], ref['ann_id'])
        # The prompt: one sentence (K = 1).
        assert isinstance(sample.prompts, InstanceData) and len(sample.prompts) == 1
        assert sample.prompts.texts == [sentence['raw'].lower()]
        # The ground truth: the referred object's mask (BitmapMasks, 1 x H x W), box and label.
        gt = sample.gt_instances
        assert isinstance(gt.masks, BitmapMasks) and gt.masks.masks.shape == (1, 64, 80)
        assert np.array_equal(gt.masks.masks[0], coco.annToMask(ann))
        x, y, w, h = ann['bbox']
        assert gt.bboxes.tensor.tolist() == [[x, y, x + w, y + h]]
        assert gt.labels.tolist() == [ann['category_id'] - 1]
        assert len(sample.ignored_instances) == 0


def test_test_pipeline_keeps_the_ground_truth_at_the_original_size(toy, coco, refs):
    dataset = build(toy, split='testA', test_mode=True, pipeline=TEST_PIPELINE)
    packed = dataset[0]
    sample = packed['data_samples']
    assert packed['inputs'].shape == (3, 120, 150) and sample.img_shape == (120, 150) and sample.ori_shape == (64, 80)
    assert sample.gt_instances.masks.masks.shape == (1, 64, 80)
    ann = coco.anns[sample.ann_id]
    assert np.array_equal(sample.gt_instances.masks.masks[0], coco.annToMask(ann))


def test_random_text_mode_draws_among_the_refs_sentences(toy, refs):
    dataset = build(toy, split='train', text_mode='random')
    idx = next(i for i in range(len(dataset)) if len(dataset.get_data_info(i)['texts']) >= 2)
    info = dataset.get_data_info(idx)
    random.seed(0)
    drawn = {dataset[idx]['data_samples'].prompts.texts[0] for _ in range(30)}
    assert drawn == set(info['texts'])
    sample = dataset[idx]['data_samples']
    assert info['texts'][info['sent_ids'].index(sample.sent_id)] == sample.prompts.texts[0]


def test_ground_truth_scores_one_with_the_referring_metric(toy):
    dataset = build(toy, split='val')
    metric = METRICS.build(dict(type='ReferringMetric'))
    samples = []
    for idx in range(len(dataset)):
        sample = dataset[idx]['data_samples']
        sample.pred_instances = InstanceData(masks=torch.from_numpy(sample.gt_instances.masks.masks).bool())
        samples.append(sample.to_dict())
    metric.process({}, samples)
    results = metric.evaluate(len(samples))
    assert results['refcoco/cIoU'] == results['refcoco/mIoU'] == results['refcoco/prec@0.5'] == 1.0


def test_a_malicious_refs_pickle_is_refused_and_never_runs(toy, refs, tmp_path):
    root = copy_layout(toy, tmp_path / 'refcoco')
    sentinel = tmp_path / 'pwned'
    refs_file = root / 'refcoco' / 'refs(unc).p'
    refs_file.write_bytes(pickle.dumps(refs[:2] + [RunsCommand(f'touch {sentinel}')], protocol=2))
    with pytest.raises(InputError) as info:
        build(root, split='train')
    message = str(info.value)
    assert str(refs_file) in message and f'global {os.system.__module__}.system' in message and 'refused' in message
    assert not sentinel.exists()


@pytest.mark.parametrize('spoil, expected', [
    (lambda refs: pickle.dumps(refs)[:-20], 'is not a plain-data pickle'),  # truncated
    (lambda refs: b'garbage', 'is not a plain-data pickle'),
    (lambda refs: pickle.dumps({'refs': refs}), 'not a list of refs'),
    (lambda refs: pickle.dumps([{k: v for k, v in r.items() if k != 'ann_id'} for r in refs]), "lacks ['ann_id']"),
    (lambda refs: pickle.dumps([{**r, 'sentences': []} for r in refs]), 'has no list of sentences'),
    (lambda refs: pickle.dumps([{**r, 'ann_id': 10**6} for r in refs]), 'refers to annotation 1000000'),
])
def test_bad_refs_files_are_named(toy, refs, tmp_path, spoil, expected):
    root = copy_layout(toy, tmp_path / 'refcoco')
    refs_file = root / 'refcoco' / 'refs(unc).p'
    refs_file.write_bytes(spoil(refs))
    with pytest.raises(InputError, match='refs') as info:
        build(root, split='train')
    assert str(refs_file) in str(info.value) and expected in str(info.value)


def test_bad_instances_json_and_split(toy, tmp_path):
    root = copy_layout(toy, tmp_path / 'refcoco')
    with pytest.raises(RefCOCODataError, match=r"no refs of split 'test' .* \['testA', 'testB', 'train', 'val'\]"):
        build(root, split='test')
    ann_file = root / 'refcoco' / 'instances.json'
    ann_file.write_text('{"images": [')
    with pytest.raises(InputError, match=f'cannot read {ann_file}'):
        build(root, split='train')
    ann_file.write_text('{"images": []}')
    with pytest.raises(InputError, match='not a COCO instances json'):
        build(root, split='train')
    ann_file.unlink()
    with pytest.raises(InputError, match='not found'):
        build(root, split='train')
    with pytest.raises(ValueError, match='text_mode'):
        build(toy, text_mode='concat')
