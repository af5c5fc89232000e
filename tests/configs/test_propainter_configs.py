"""Every ProPainter config loads and builds its model; the training configs carry the official settings."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import DefaultScope

from seg.apis.runner import use_amp
from seg.models.flow import RAFT, RecurrentFlowCompleteNet
from seg.models.propainter.frozen_networks import MissingWeightsError
from seg.registry import DATASETS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / 'configs' / 'propainter'
CONFIGS = sorted(CONFIG_DIR.glob('*.py'))
EXPECTED = {'train_flowcomp.py', 'train_propainter.py', 'train_flowcomp_toy.py', 'train_propainter_toy.py',
            'propainter_davis_test.py'}


def load(name: str) -> Config:
    return Config.fromfile(CONFIG_DIR / name)


@pytest.fixture(scope='module')
def weights(tmp_path_factory) -> dict:
    """Random RAFT (things) and flow completion weights standing in for the release files."""
    folder = tmp_path_factory.mktemp('weights')
    torch.manual_seed(0)
    torch.save(RAFT().state_dict(), folder / 'raft-things.pth')
    torch.save(RecurrentFlowCompleteNet().state_dict(), folder / 'recurrent_flow_completion.pth')
    return dict(raft_checkpoint=str(folder / 'raft-things.pth'),
                flow_completion_checkpoint=str(folder / 'recurrent_flow_completion.pth'))


def with_weights(model_cfg, weights: dict):
    model_cfg = copy.deepcopy(model_cfg)
    for key, path in weights.items():
        if model_cfg.get(key) is not None:
            model_cfg[key] = path
    return model_cfg


def build(model_cfg):
    with DefaultScope.overwrite_default_scope('seg'):
        return MODELS.build(model_cfg)


def optim_wrapper(cfg, model):
    options = {k: v for k, v in cfg.optim_wrapper.items() if k != 'constructor'}
    with DefaultScope.overwrite_default_scope('seg'):
        if 'constructor' in cfg.optim_wrapper:
            constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type=cfg.optim_wrapper.constructor,
                                                                optim_wrapper_cfg=options))
            return constructor(model)
        optimizer = torch.optim.Adam(model.parameters(), **{k: v for k, v in options['optimizer'].items()
                                                            if k != 'type'})
        return OPTIM_WRAPPERS.build(dict(type=options['type'], optimizer=optimizer))


def test_all_expected_configs_exist():
    assert {p.name for p in CONFIGS} >= EXPECTED


@pytest.mark.parametrize('path', CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads_and_builds_its_model(path, weights):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'seg'
    expected = 'FlowCompletionModel' if 'flowcomp' in path.name else 'ProPainterGAN'
    model = build(with_weights(cfg.model, weights))
    assert type(model).__name__ == expected
    for split in ('train', 'val', 'test'):
        parts = [cfg.get(f'{split}_dataloader'), cfg.get(f'{split}_cfg')] + (
            [cfg.get(f'{split}_evaluator')] if split != 'train' else [])
        assert all(p is None for p in parts) or all(p is not None for p in parts), f'{path.name}: {split} half set'
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is not None:
            assert DATASETS.get(loader.dataset.type) is not None
    if cfg.get('train_cfg') is not None:
        assert cfg.train_cfg.type == 'GuardedTrainLoop'
        assert cfg.train_dataloader.dataset.num_local_frames == cfg.model.num_local_frames
        wrappers = optim_wrapper(cfg, model)
        if expected == 'ProPainterGAN':
            assert set(wrappers.keys()) == {'generator', 'discriminator'}


def test_flow_completion_training_follows_the_official_json():
    cfg = load('train_flowcomp.py')
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'Adam' and optimizer.lr == 5e-5 and tuple(optimizer.betas) == (0.0, 0.99)
    (scheduler, ) = cfg.param_scheduler
    assert scheduler.type == 'MultiStepLR' and scheduler.by_epoch is False and scheduler.gamma == 0.2
    assert list(scheduler.milestones) == [300000, 400000, 500000, 600000]
    assert cfg.train_cfg.max_iters == 700000 and cfg.train_dataloader.batch_size == 8
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'ProPainterDataset' and tuple(dataset.size) == (432, 240)
    assert (dataset.num_local_frames, dataset.num_ref_frames) == (10, 1)
    assert dataset.frame_dir == 'JPEGImages_432_240' and dataset.data_root == 'data/youtube-vos/'
    model = cfg.model
    assert (model.flow_weight, model.warp_weight, model.edge_weight) == (0.25, 0.01, 1.0)
    assert model.raft_checkpoint == 'checkpoints/propainter/raft-things.pth' and model.flow_estimator.iters == 20
    assert cfg.default_hooks.checkpoint.interval == 5000 and cfg.default_hooks.logger.interval == 100
    assert cfg.randomness.seed == 2023


def test_propainter_training_follows_the_official_json():
    cfg = load('train_propainter.py')
    for player in ('generator', 'discriminator'):
        optimizer = cfg.optim_wrapper[player].optimizer
        assert optimizer.type == 'Adam' and optimizer.lr == 1e-4 and tuple(optimizer.betas) == (0.0, 0.99)
        assert 'type' not in cfg.optim_wrapper[player]  # --amp sets the shared wrapper type
    (scheduler, ) = cfg.param_scheduler
    assert list(scheduler.milestones) == [400000] and scheduler.gamma == 0.1 and scheduler.by_epoch is False
    assert cfg.train_cfg.max_iters == 700000 and cfg.train_dataloader.batch_size == 8
    dataset = cfg.train_dataloader.dataset
    assert (dataset.num_local_frames, dataset.num_ref_frames) == (10, 6) and tuple(dataset.size) == (432, 240)
    model = cfg.model
    assert (model.hole_weight, model.valid_weight, model.adversarial_weight) == (1.0, 1.0, 0.01)
    assert model.gan_loss == 'hinge' and model.propagation_interpolation == 'nearest'
    assert model.vgg_weights is None and model.perceptual_weight == 0  # official perceptual_weight 0
    assert model.discriminator.type == 'TemporalPatchDiscriminator'
    assert model.flow_completion_checkpoint == 'checkpoints/propainter/recurrent_flow_completion.pth'
    assert cfg.default_hooks.checkpoint.interval == 10000 and cfg.randomness.seed == 2023


def test_amp_makes_both_players_mixed_precision(weights):
    cfg = use_amp(load('train_propainter.py'))
    model = build(with_weights(cfg.model, weights))
    wrappers = optim_wrapper(cfg, model)
    assert isinstance(wrappers, OptimWrapperDict)
    for name in ('generator', 'discriminator'):
        assert type(wrappers[name]) is not OptimWrapper
        assert type(wrappers[name]).__name__ in ('AmpOptimWrapper', 'BF16AutocastOptimWrapper')


def test_davis_test_follows_the_official_evaluation():
    cfg = load('propainter_davis_test.py')
    dataset = cfg.test_dataloader.dataset
    assert dataset.data_root == 'data/davis/' and dataset.test_mode and dataset.mask_dir == 'test_masks'
    assert tuple(dataset.size) == (432, 240) and cfg.test_dataloader.batch_size == 1
    assert (cfg.model.neighbor_stride, cfg.model.ref_stride, cfg.model.num_ref) == (5, 10, -1)
    assert cfg.model.discriminator is None and cfg.test_evaluator.type == 'VideoInpaintingMetric'


def test_toys_need_no_release_weights():
    for name in ('train_flowcomp_toy.py', 'train_propainter_toy.py'):
        cfg = load(name)
        assert cfg.model.flow_estimator is None and cfg.model.raft_checkpoint is None
        assert cfg.train_dataloader.dataset.flow_dir == 'Flows_flo' == cfg.val_dataloader.dataset.flow_dir
        assert cfg.train_dataloader.dataset.data_root == 'data/toy/propainter/'
        assert cfg.train_cfg.val_interval == cfg.train_cfg.max_iters
    assert load('train_propainter_toy.py').model.flow_completion_checkpoint.startswith('work_dirs/')


def test_missing_release_files_name_the_config_key(tmp_path, weights):
    cfg = load('train_propainter.py')
    model_cfg = with_weights(cfg.model, weights)
    model_cfg.flow_completion_checkpoint = str(tmp_path / 'recurrent_flow_completion.pth')
    with pytest.raises(MissingWeightsError, match='model.flow_completion_checkpoint'):
        build(model_cfg)
    model_cfg = with_weights(load('train_flowcomp.py').model, weights)
    model_cfg.raft_checkpoint = str(tmp_path / 'raft-things.pth')
    with pytest.raises(MissingWeightsError, match='model.raft_checkpoint'):
        build(model_cfg)
