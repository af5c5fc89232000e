"""VocabularyConcatDataset: the joint vocabulary, label remapping on toy samples, data tags, class-agnostic
sources, TaskBatchSampler grouping and the configs of RAP-SAM's training mix."""
import copy
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.datasets import CocoPanopticDataset
from mmdet.structures import TrackDataSample
from mmengine.config import Config
from mmengine.dataset import DefaultSampler
from mmengine.registry import init_default_scope

from seg.datasets.samplers import TaskBatchSampler
from seg.toy_data import COCO_STUFF_CLASSES, COCO_THING_CLASSES, VIDEO_CLASSES, make_coco_panoptic, make_ytvis
from seg.datasets.vocabulary_concat_dataset import (CLASS_AGNOSTIC_LABEL, SEM_SEG_VOID, VocabularyConcatDataset,
                                                    class_synonyms)
from seg.apis.vocabulary import class_names_from_config
from seg.registry import DATASETS

REPO = Path(__file__).resolve().parents[2]
DATASET_CONFIGS = REPO / 'configs' / '_base_' / 'datasets'
MIX_CONFIG = DATASET_CONFIGS / 'coco_panoptic_video_yt19_sam.py'
TOY_MIX_CONFIG = DATASET_CONFIGS / 'toy_coco_panoptic_video_yt19_sam.py'
RAPSAM_CONFIG = REPO / 'configs' / 'rapsam' / 'rapsam_r50_12e_adaptor.py'
MIX_NAME = 'Concat_CocoPanopticDataset_YouTubeVISDataset_2019'
TAGS = ('coco', 'yt19', 'sam')

# YouTube-VIS 2019 classes that join a COCO thing (by synonym, after '_' -> ' ').
YT19_MERGED = ('person', 'skateboard', 'dog', 'cat', 'cow', 'train', 'horse', 'bear', 'giraffe', 'surfboard',
               'airplane', 'truck', 'zebra', 'elephant', 'snowboard', 'boat', 'mouse', 'tennis racket')


@pytest.fixture(autouse=True)
def seg_scope():
    init_default_scope('seg')


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('toy')
    make_coco_panoptic(root / 'coco_panoptic', num_train=4, num_val=1)
    make_ytvis(root / 'ytvis', num_train=2, num_val=1, num_frames=6)
    return root


def toy_mix_config(toy_root: Path) -> dict:
    """The train dataset of the toy mix config, reading ``toy_root``."""
    cfg = Config.fromfile(str(TOY_MIX_CONFIG)).train_dataloader.dataset.to_dict()
    roots = (toy_root / 'coco_panoptic', toy_root / 'ytvis', toy_root / 'coco_panoptic')
    for member, root in zip(cfg['datasets'], roots):
        member['dataset']['data_root'] = f'{root}/'
    return cfg


@pytest.fixture(scope='module')
def toy_mix(toy_root) -> VocabularyConcatDataset:
    init_default_scope('seg')
    return DATASETS.build(toy_mix_config(toy_root))


def seeded(getter, idx: int, seed: int):
    """``getter(idx)`` with Python's and NumPy's random state fixed, so pipelines repeat their augmentation."""
    random.seed(seed)
    np.random.seed(seed)
    return getter(idx)


def frames_of(sample) -> list:
    return list(sample) if isinstance(sample, TrackDataSample) else [sample]


def raw_and_mapped(mix: VocabularyConcatDataset, idx: int, seed: int = 0):
    """The source's own packed sample and the mix's, with the same augmentation: lists of frames."""
    source = mix.get_dataset_source(idx)
    local = idx - ([0] + mix.cumulative_sizes)[source]
    raw = seeded(mix.datasets[source].__getitem__, local, seed)['data_samples']
    mapped = seeded(mix.__getitem__, idx, seed)['data_samples']
    return source, frames_of(raw), frames_of(mapped), mapped


def lazy_source(cfg: dict) -> dict:
    """A source config whose files do not exist (only its metainfo is used)."""
    return dict(cfg, data_root='/nonexistent/', ann_file='none.json')


COCO_LAZY = lazy_source(dict(type='CocoPanopticDataset', data_prefix=dict(img='img/', seg='seg/')))
YT19_LAZY = lazy_source(dict(type='YouTubeVISDataset', dataset_version='2019'))


# ---------------------------------------------------------------------------------------- vocabulary
def test_class_synonyms_rule():
    assert class_synonyms('tennis_racket') == {'tennis racket'}
    assert class_synonyms('tv/monitor') == {'tv', 'monitor'}
    assert class_synonyms('wall-other-merged') == {'wall-other-merged'}
    assert class_synonyms('giant_panda') & class_synonyms('giant panda')


def test_coco_panoptic_and_yt19_give_102_things_and_53_stuff():
    mix = VocabularyConcatDataset(
        [dict(type='RepeatDataset', times=1, dataset=COCO_LAZY),
         dict(type='RepeatDataset', times=25, dataset=YT19_LAZY), COCO_LAZY],
        data_tags=TAGS, lazy_init=True)
    meta = mix.metainfo
    coco_things = CocoPanopticDataset.METAINFO['thing_classes']
    coco_stuff = CocoPanopticDataset.METAINFO['stuff_classes']
    yt19 = mix.datasets[1].metainfo['classes']
    assert len(yt19) == 40
    assert (len(meta['thing_classes']), len(meta['stuff_classes']), len(meta['classes'])) == (102, 53, 155)
    assert meta['classes'] == meta['thing_classes'] + meta['stuff_classes']
    assert meta['thing_classes'][:80] == coco_things and meta['stuff_classes'] == coco_stuff
    assert meta['dataset_name'] == mix.dataset_name == MIX_NAME

    coco_map, yt19_map, sam_map = mix.label_maps
    assert sam_map is None and mix.class_agnostic == [False, False, True]
    # COCO: things keep their ids, stuff moves behind all 102 joint things.
    assert coco_map.tolist() == list(range(80)) + list(range(102, 155))
    merged = tuple(name.replace('_', ' ') for name, joint in zip(yt19, yt19_map.tolist()) if joint < 80)
    assert merged == YT19_MERGED
    for name, joint in zip(yt19, yt19_map.tolist()):
        assert meta['thing_classes'][joint] == name.replace('_', ' ')
    assert sorted(joint for joint in yt19_map.tolist() if joint >= 80) == list(range(80, 102))
    assert 'giant panda' in meta['thing_classes'] and 'earless seal' in meta['thing_classes']


def test_sources_without_tags_and_errors():
    mix = VocabularyConcatDataset([YT19_LAZY, COCO_LAZY], lazy_init=True)
    assert mix.dataset_name == 'Concat_YouTubeVISDataset_2019_CocoPanopticDataset'
    assert (len(mix.metainfo['thing_classes']), len(mix.metainfo['stuff_classes'])) == (102, 53)
    single = VocabularyConcatDataset([COCO_LAZY, COCO_LAZY], data_tags=('coco', 'sam'), lazy_init=True)
    assert single.dataset_name == 'CocoPanopticDataset' and len(single.metainfo['classes']) == 133
    with pytest.raises(ValueError, match='one tag per dataset'):
        VocabularyConcatDataset([COCO_LAZY, YT19_LAZY], data_tags=('coco', ), lazy_init=True)
    bad = dict(COCO_LAZY, metainfo=dict(classes=('a', 'b', 'c'), thing_classes=('a', ), stuff_classes=('c', )))
    with pytest.raises(ValueError, match='thing_classes \\+ stuff_classes'):
        VocabularyConcatDataset([bad], lazy_init=True)


# ---------------------------------------------------------------------------------------- toy samples
def test_toy_vocabulary(toy_mix):
    meta = toy_mix.metainfo
    assert meta['thing_classes'] == COCO_THING_CLASSES + ('polygon', )
    assert meta['stuff_classes'] == COCO_STUFF_CLASSES
    assert meta['dataset_name'] == MIX_NAME
    assert set(VIDEO_CLASSES) <= set(meta['thing_classes'])


def test_coco_clips_are_remapped_and_tagged(toy_mix):
    coco_map = toy_mix.label_maps[0]  # things 0..2 stay, stuff 3, 4 -> 4, 5 (behind 'polygon')
    assert coco_map.tolist() == [0, 1, 2, 4, 5]
    stuff_seen = set()
    for idx in range(toy_mix.cumulative_sizes[0]):
        source, raw, mapped, sample = raw_and_mapped(toy_mix, idx, seed=idx)
        assert source == 0 and isinstance(sample, TrackDataSample)
        assert sample.metainfo['data_tag'] == 'coco'
        for before, after in zip(raw, mapped):
            assert after.metainfo['data_tag'] == 'coco'
            assert torch.equal(after.gt_instances.labels, coco_map[before.gt_instances.labels])
            assert np.array_equal(after.gt_instances.masks.masks, before.gt_instances.masks.masks)
            sem_before, sem_after = before.gt_sem_seg.sem_seg, after.gt_sem_seg.sem_seg
            void = sem_before == SEM_SEG_VOID
            assert sem_after.dtype == sem_before.dtype and torch.equal(sem_after[void], sem_before[void])
            assert torch.equal(sem_after[~void], coco_map[sem_before[~void].long()].to(sem_after.dtype))
            stuff_seen |= set(sem_after[~void].unique().tolist()) - {0, 1, 2}
    assert stuff_seen and stuff_seen <= {4, 5}  # stuff ids moved to >= the 4 joint things


def test_yt19_clips_get_joint_ids(toy_mix):
    yt_map = toy_mix.label_maps[1]
    # disk, box, triangle join the COCO classes; polygon is new, after the COCO things.
    assert yt_map.tolist() == [0, 1, 2, 3]
    labels_seen = set()
    for idx in range(toy_mix.cumulative_sizes[0], toy_mix.cumulative_sizes[1]):
        source, raw, mapped, sample = raw_and_mapped(toy_mix, idx, seed=idx)
        assert source == 1 and isinstance(sample, TrackDataSample)
        assert [frame.metainfo['data_tag'] for frame in mapped] == ['yt19'] * len(mapped)
        for before, after in zip(raw, mapped):
            assert torch.equal(after.gt_instances.labels, yt_map[before.gt_instances.labels])
            assert torch.equal(after.gt_instances.instances_ids, before.gt_instances.instances_ids)
            assert (after.gt_sem_seg.sem_seg == SEM_SEG_VOID).all()
            labels_seen |= set(after.gt_instances.labels.tolist())
    assert 3 in labels_seen, 'the toy clips should show a polygon (a YouTube-VIS-only class)'


def test_class_agnostic_source_keeps_masks_and_drops_classes(toy_mix):
    assert toy_mix.class_agnostic == [False, False, True]
    for idx in range(toy_mix.cumulative_sizes[1], len(toy_mix)):
        source, raw, mapped, sample = raw_and_mapped(toy_mix, idx, seed=idx)
        (before, ), (after, ) = raw, mapped
        assert source == 2 and sample.metainfo['data_tag'] == 'sam'
        assert len(after.gt_instances) == len(before.gt_instances) > 0
        assert (after.gt_instances.labels == CLASS_AGNOSTIC_LABEL).all()
        assert np.array_equal(after.gt_instances.masks.masks, before.gt_instances.masks.masks)
        assert (after.gt_sem_seg.sem_seg == SEM_SEG_VOID).all()


def test_conflicting_packed_data_tag_is_an_error(toy_root):
    cfg = toy_mix_config(toy_root)
    cfg['data_tags'] = ('coco', 'yt19', 'prompts')  # the third pipeline packs data_tag='sam'
    cfg['class_agnostic_tags'] = ('prompts', )
    mix = DATASETS.build(cfg)
    with pytest.raises(ValueError, match="tagged 'prompts'.*data_tag='sam'"):
        mix[len(mix) - 1]


def test_task_batch_sampler_keeps_sources_apart(toy_root):
    mix = DATASETS.build(dict(toy_mix_config(toy_root), lazy_init=True))
    assert not mix._fully_initialized
    sampler = TaskBatchSampler(DefaultSampler(mix, shuffle=True, seed=0), batch_size=3)
    assert mix.cumulative_sizes == [4, 8, 12]  # ×2 YouTube-VIS: 2 videos repeated twice
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(len(mix)))
    for batch in batches:
        assert len({mix.get_dataset_source(i) for i in batch}) == 1


def test_cumulative_sizes_loads_a_lazy_mix(toy_root):
    """TaskBatchSampler reads cumulative_sizes; on a mix still lazy that loads it (not one big source)."""

    class Indices:
        def __init__(self, dataset):
            self.dataset = dataset

        def __iter__(self):
            return iter(range(12))

        def __len__(self):
            return 12

    mix = DATASETS.build(dict(toy_mix_config(toy_root), lazy_init=True))
    assert not mix._fully_initialized
    sampler = TaskBatchSampler(Indices(mix), batch_size=4)
    assert mix._fully_initialized and [sampler.source_of(i) for i in (3, 4, 11)] == [0, 1, 2]
    assert list(sampler) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


# ---------------------------------------------------------------------------------------- configs
def test_class_names_from_toy_mix_config():
    names, vocabulary = class_names_from_config(TOY_MIX_CONFIG)
    assert names == list(COCO_THING_CLASSES) + ['polygon'] + list(COCO_STUFF_CLASSES)
    assert vocabulary == MIX_NAME


def test_mix_config_layout():
    cfg = Config.fromfile(str(MIX_CONFIG))
    assert cfg.image_size == (1280, 736)
    loader = cfg.train_dataloader
    assert loader.batch_size == 1 and loader.batch_sampler.type == 'TaskBatchSampler'
    assert loader.sampler == dict(type='DefaultSampler', shuffle=True)
    assert loader.dataset.type == 'VocabularyConcatDataset' and tuple(loader.dataset.data_tags) == TAGS
    members = loader.dataset.datasets
    assert [m.times for m in members] == [1, 25, 1]
    assert [m.dataset.type for m in members] == ['CocoPanopticDataset', 'YouTubeVISDataset', 'CocoPanopticDataset']
    assert [t.type for t in members[0].dataset.pipeline][-1] == 'PackVideoSegInputs'
    sam = {t.type: t for t in members[2].dataset.pipeline}
    assert sam['PanopticSegmentsAsInstances'].num_things == 80
    assert sam['RandomResize'].ratio_range == (0.1, 2.0) and sam['RandomResize'].scale == (1280, 736)
    assert sam['FilterAnnotations'].min_gt_mask_area == 32 and sam['SetDataTag'].tag == 'sam'
    assert 'data_tag' in sam['PackDetInputs'].meta_keys


def test_rapsam_config_vocabulary_without_data():
    if not RAPSAM_CONFIG.is_file():
        pytest.skip(f'{RAPSAM_CONFIG.name} is not there')
    cfg = Config.fromfile(str(RAPSAM_CONFIG))
    names, vocabulary = class_names_from_config(RAPSAM_CONFIG)
    head = cfg.model.panoptic_head
    assert len(names) == head.num_things_classes + head.num_stuff_classes == 155
    assert vocabulary == MIX_NAME and head.class_embed_path.endswith(f'_{MIX_NAME}.pth')
    # Built lazily, no annotation is read (data/coco and data/youtube_vis_2019 need not exist).
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset = DATASETS.build(dict(dataset_cfg, lazy_init=True))
    assert not dataset._fully_initialized and len(dataset.metainfo['thing_classes']) == head.num_things_classes
