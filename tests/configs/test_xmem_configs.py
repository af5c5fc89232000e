"""configs/xmem: every config builds its model and datasets' settings; the curriculum hook follows XMem's schedule."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import FUNCTIONS, DefaultScope

import seg  # noqa: F401
from seg.toy_data import make_davis, make_static
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
    assert type(model.data_preprocessor).__name__ == 'VOSDataPreprocessor'
    assert model.data_preprocessor.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])


def test_official_recipe_settings():
    cfg = Config.fromfile(REPO / 'configs' / 'xmem' / 'xmem_s03_davis_ytvos.py')
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-5, weight_decay=0.05)
    assert cfg.train_cfg.max_iters == 110000 and cfg.param_scheduler[0].milestones == [80000]  # 100k + 10k finetune
    davis, ytvos = cfg.train_dataloader.dataset.datasets
    assert davis.times == 5 and davis.dataset.num_frames == ytvos.num_frames == 8
    assert cfg.model.loss_ce.start_warm == 20000 and cfg.model.num_ref_frames == 3



def test_static_pretraining_settings():
    # XMem util/configuration.py, stage 0: s0_batch_size 16, s0_iterations 150000, s0_steps [], s0_lr 1e-5,
    # s0_num_ref_frames 2, s0_num_frames 3, s0_start_warm 20000, s0_end_warm 70000; gamma 0.1, weight_decay
    # 0.05. train.py: single_object for stage 0, static datasets fss, DUTS-TR, DUTS-TE, ecssd (x1), BIG_small,
    # HRSOD_small (x5). dataset/static_dataset.py: max_num_obj 1, 384x384 crops.
    cfg = Config.fromfile(REPO / 'configs' / 'xmem' / 'xmem_s0_static.py')
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-5, weight_decay=0.05)
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 150000
    assert [(s.type, s.milestones, s.gamma) for s in cfg.param_scheduler] == [('MultiStepLR', [], 0.1)]
    assert cfg.train_dataloader.batch_size == 16
    assert cfg.model.num_ref_frames == 2 and cfg.model.deep_update_prob == 0.2 and cfg.model.network.single_object
    assert (cfg.model.loss_ce.start_warm, cfg.model.loss_ce.end_warm, cfg.model.loss_ce.top_p) == (20000, 70000, 0.15)
    assert cfg.val_dataloader is None and cfg.val_cfg is None and cfg.val_evaluator is None
    concat = cfg.train_dataloader.dataset
    assert concat.type == 'ConcatDataset' and {d.type for d in concat.datasets} == {'StaticClipDataset'}
    assert all((d.num_frames, d.max_num_obj, tuple(d.crop_size)) == (3, 1, (384, 384)) for d in concat.datasets)
    weights = {}
    for d in concat.datasets:
        for root in d.data_roots:
            folder = root if isinstance(root, str) else root['image_dir']
            weights[folder] = d.get('repeat', 1) * (1 if isinstance(root, str) else root.get('repeat', 1))
    official = {'fss': 1, 'DUTS-TR': 1, 'DUTS-TE': 1, 'ecssd': 1, 'BIG_small': 5, 'HRSOD_small': 5}
    assert weights == {f'data/static/{k}': v for k, v in official.items()}
    assert concat.datasets[0].data_roots[0]['recursive']  # FSS-1000: <class>/<n>.jpg


def test_static_clips_train_xmem(tmp_path):
    root = make_static(tmp_path / 'static', num_train=2, num_val=0, height=48, width=80)
    cfg = Config.fromfile(REPO / 'configs' / 'xmem' / 'xmem_s0_static.py')
    duts = dict(image_dir=str(root / 'DUTS-TR' / 'DUTS-TR-Image'), mask_dir=str(root / 'DUTS-TR' / 'DUTS-TR-Mask'))
    with DefaultScope.overwrite_default_scope('seg'):
        dataset = DATASETS.build(dict(cfg.train_dataloader.dataset.datasets[1], data_roots=[duts], crop_size=(48, 80)))
        model = MODELS.build(cfg.model)
    torch.manual_seed(0)
    collate = FUNCTIONS.get(cfg.train_dataloader.collate_fn.type)
    batch = model.data_preprocessor(collate([dataset[0], dataset[1]]), training=True)
    assert batch['inputs'].shape == (2, 3, 3, 48, 80) and batch['inputs'].dtype == torch.float32
    assert [sample.first_frame_gt.shape for sample in batch['data_samples']] == [(1, 1, 48, 80)] * 2
    model.train()
    losses = model.loss(**batch)
    assert set(losses) == {'loss_ce', 'loss_dice'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())


def test_toy_datasets_build(tmp_path):
    make_davis(tmp_path / 'davis', num_train=1, num_val=1, num_frames=6)
    cfg = Config.fromfile(REPO / 'configs' / 'xmem' / 'xmem_toy.py')
    with DefaultScope.overwrite_default_scope('seg'):
        train = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=str(tmp_path / 'davis')))
        val = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=str(tmp_path / 'davis')))
    assert train[0]['inputs'].shape == (3, 3, 48, 80) and val[0]['frames'].shape[0] == 6


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
