"""configs/xmem: every config builds its model and datasets' settings; the curriculum hook follows XMem's schedule."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import seg  # noqa: F401
from seg.datasets.toy_data import make_davis
from seg.engine.hooks import MaxSkipCurriculumHook
from seg.registry import DATASETS, MODELS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs' / 'xmem').glob('*.py'))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope('seg'):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'XMemVOS' and model.network.value_dim == 512


def test_official_recipe_settings():
    cfg = Config.fromfile(REPO / 'configs' / 'xmem' / 'xmem_s03_davis_ytvos.py')
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-5, weight_decay=0.05)
    assert cfg.train_cfg.max_iters == 100000 and cfg.param_scheduler[0].milestones == [80000]
    davis, ytvos = cfg.train_dataloader.dataset.datasets
    assert davis.times == 5 and davis.dataset.num_frames == ytvos.num_frames == 8
    assert cfg.model.loss_ce.start_warm == 20000 and cfg.model.num_ref_frames == 3


def test_toy_datasets_build(tmp_path):
    make_davis(tmp_path / 'davis', num_train=1, num_val=1, num_frames=6)
    cfg = Config.fromfile(REPO / 'configs' / 'xmem' / 'xmem_toy.py')
    with DefaultScope.overwrite_default_scope('seg'):
        train = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(tmp_path / 'davis')))
        val = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(tmp_path / 'davis')))
    assert train[0]['frames'].shape == (3, 3, 48, 80) and val[0]['frames'].shape[0] == 6


def test_curriculum_hook_sets_every_clip_dataset(tmp_path):
    make_davis(tmp_path / 'davis', num_train=1, num_val=1, num_frames=6)

    class Runner:
        iter, max_iters = 0, 100
        train_dataloader = type('Loader', (), {})()

    with DefaultScope.overwrite_default_scope('seg'):
        clip = DATASETS.build(dict(type='VOSClipDataset', data_root=str(tmp_path / 'davis'), crop_size=(32, 32)))
    from torch.utils.data import ConcatDataset
    Runner.train_dataloader.dataset = ConcatDataset([clip])
    hook = MaxSkipCurriculumHook()
    for iteration, expected in ((0, 5), (10, 10), (30, 15), (90, 5)):
        Runner.iter = iteration
        hook.before_train_iter(Runner, 0)
        assert clip.max_jump == expected
