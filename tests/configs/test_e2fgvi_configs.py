"""Every E2FGVI config loads and builds its model; the training configs carry the official schedule."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from seg.engine.optimizers import MultiOptimWrapperConstructor
from seg.models.flow.spynet import SPyNet
from seg.models.losses.flow_completion_loss import DEFAULT_SPYNET_CHECKPOINT, SPYNET_URL
from seg.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'configs' / 'e2fgvi'
CONFIGS = sorted(CONFIG_DIR.glob('*.py'))
OFFICIAL_TRAINING = ('e2fgvi_500k.py', 'e2fgvi_hq_500k.py')


def load(name: str) -> Config:
    return Config.fromfile(CONFIG_DIR / name)


@pytest.fixture(scope='module')
def spynet_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp('weights') / 'spynet.pth'
    torch.save(SPyNet().state_dict(), path)
    return str(path)


def with_spynet(model_cfg, spynet_file: str):
    """The model config with every SPyNet weight path pointed at ``spynet_file``."""
    model_cfg = copy.deepcopy(model_cfg)
    if model_cfg.generator.get('spynet_pretrained'):
        model_cfg.generator.spynet_pretrained = spynet_file
    if model_cfg.get('flow_supervisor'):
        model_cfg.flow_supervisor.pretrained = spynet_file
    return model_cfg


def build(model_cfg):
    with DefaultScope.overwrite_default_scope('seg'):
        return MODELS.build(model_cfg)


def test_all_expected_configs_exist():
    assert {p.name for p in CONFIGS} >= {'e2fgvi_500k.py', 'e2fgvi_hq_500k.py', 'e2fgvi_quick.py', 'e2fgvi_toy.py',
                                         'e2fgvi_test.py', 'e2fgvi_hq_test.py'}


@pytest.mark.parametrize('path', CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads_and_builds_its_model(path, spynet_file):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'seg' and cfg.model.type == 'VideoInpaintingGAN'
    model = build(with_spynet(cfg.model, spynet_file))
    expected = 'E2FGVIHQGenerator' if '_hq_' in path.name or 'toy' in path.name else 'E2FGVIGenerator'
    assert type(model.generator).__name__ == expected
    for split in ('train', 'val', 'test'):
        parts = [cfg.get(f'{split}_dataloader'), cfg.get(f'{split}_cfg')] + (
            [cfg.get(f'{split}_evaluator')] if split != 'train' else [])
        assert all(p is None for p in parts) or all(p is not None for p in parts), f'{path.name}: {split} half set'
    if cfg.get('train_cfg') is not None:
        assert cfg.train_cfg.type == 'GuardedTrainLoop'
        assert cfg.train_dataloader.dataset.num_local_frames == cfg.model.num_local_frames
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=cfg.optim_wrapper.constructor, optim_wrapper_cfg={
            k: v for k, v in cfg.optim_wrapper.items() if k != 'constructor'}))
        wrappers = constructor(model)
        assert set(wrappers.keys()) == {'generator', 'discriminator'}


@pytest.mark.parametrize('name', OFFICIAL_TRAINING)
def test_official_schedule(name):
    cfg = load(name)
    for player in ('generator', 'discriminator'):
        optimizer = cfg.optim_wrapper[player].optimizer
        assert optimizer.type == 'Adam' and optimizer.lr == 1e-4 and tuple(optimizer.betas) == (0.0, 0.99)
        assert optimizer.get('weight_decay', 0) == 0
    assert cfg.train_dataloader.batch_size == 8
    assert cfg.train_cfg.max_iters == 500000
    (scheduler, ) = cfg.param_scheduler
    assert scheduler.type == 'MultiStepLR' and list(scheduler.milestones) == [400000] and scheduler.gamma == 0.1
    assert scheduler.by_epoch is False
    dataset = cfg.train_dataloader.dataset
    assert tuple(dataset.size) == (432, 240) and dataset.num_local_frames == 5 and dataset.num_ref_frames == 3
    assert dataset.data_root == 'data/youtube-vos/' and dataset.ann_file == 'train.json'
    assert dataset.frame_dir == 'JPEGImages' and dataset.flip_prob == 0.5
    model = cfg.model
    assert (model.hole_weight, model.valid_weight, model.flow_weight, model.adversarial_weight) == (1, 1, 1, 0.01)
    assert model.gan_loss == 'hinge' and model.discriminator is not None and model.num_local_frames == 5
    assert model.flow_supervisor.type == 'SPyNet' and model.flow_supervisor.pretrained == DEFAULT_SPYNET_CHECKPOINT
    assert model.generator.spynet_pretrained == DEFAULT_SPYNET_CHECKPOINT
    assert cfg.default_hooks.logger.interval == 100
    assert cfg.default_hooks.checkpoint.interval == 5000 and cfg.default_hooks.checkpoint.by_epoch is False
    assert cfg.randomness.seed == 2021


def test_quick_run_is_three_videos_for_100_iterations_logged_every_iteration():
    cfg = load('e2fgvi_quick.py')
    assert cfg.train_dataloader.dataset.ann_file == 'train_small.json'
    assert cfg.train_cfg.max_iters == 100 and cfg.default_hooks.logger.interval == 1
    assert cfg.log_processor.window_size == 1
    assert cfg.optim_wrapper.generator.optimizer.lr == 1e-4


def test_toy_needs_no_weights_and_validates_at_the_end():
    cfg = load('e2fgvi_toy.py')
    assert cfg.model.flow_supervisor is None and cfg.model.flow_weight == 0
    assert cfg.model.generator.spynet_pretrained is None
    assert tuple(cfg.train_dataloader.dataset.size) == (108, 60)
    assert tuple(cfg.val_dataloader.dataset.size) == (216, 120)
    assert cfg.train_dataloader.dataset.data_root == 'data/toy/e2fgvi/'
    assert cfg.val_dataloader.dataset.ann_file == 'test.json' and cfg.val_dataloader.dataset.test_mode
    optimizer = cfg.optim_wrapper.generator.optimizer
    assert optimizer.lr == 1e-4 and tuple(optimizer.betas) == (0.0, 0.99)
    assert cfg.train_cfg.val_interval == cfg.train_cfg.max_iters


@pytest.mark.parametrize('name', ['e2fgvi_test.py', 'e2fgvi_hq_test.py'])
def test_evaluation_configs_follow_the_official_evaluation(name):
    cfg = load(name)
    dataset = cfg.test_dataloader.dataset
    assert tuple(dataset.size) == (432, 240) and dataset.test_mode and dataset.mask_dir == 'test_masks'
    assert dataset.ann_file == 'test.json' and cfg.test_dataloader.batch_size == 1
    assert (cfg.model.neighbor_stride, cfg.model.ref_stride, cfg.model.num_ref) == (5, 10, -1)
    assert cfg.test_evaluator.type == 'VideoInpaintingMetric' and cfg.test_evaluator.i3d_weights.endswith('.pt')
    assert cfg.model.get('flow_supervisor') is None and 'spynet_pretrained' not in cfg.model.generator


def test_training_config_without_spynet_weights_names_the_download(tmp_path):
    cfg = load('e2fgvi_500k.py')
    cfg.model.generator.spynet_pretrained = None
    cfg.model.flow_supervisor.pretrained = str(tmp_path / 'spynet_20210409-c6c1bd09.pth')
    with pytest.raises(FileNotFoundError) as info:
        build(cfg.model)
    assert SPYNET_URL in str(info.value) and 'flow_supervisor.pretrained' in str(info.value)


def test_multi_optim_wrapper_constructor_is_registered():
    assert OPTIM_WRAPPER_CONSTRUCTORS.get('MultiOptimWrapperConstructor') is MultiOptimWrapperConstructor
