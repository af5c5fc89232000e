"""XMem's run phases: the frame-gap curriculum over the first ``iterations`` and the fine-tuning phase after them."""
import pytest
from mmengine.config import Config
from torch.utils.data import ConcatDataset

from seg.toy_data import make_davis
from seg.datasets.vos_clip_dataset import VOSClipDataset
from seg.engine.hooks import FinetunePhaseHook, MaxSkipCurriculumHook


class FakeRunner:

    def __init__(self, dataset, max_iters):
        self.iter, self.max_iters = 0, max_iters
        self.train_dataloader = type('Loader', (), {'dataset': dataset})()


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    root = make_davis(tmp_path_factory.mktemp('davis') / 'davis', num_train=1, num_val=1, num_frames=6)
    return VOSClipDataset(str(root), num_frames=3, crop_size=(32, 32))


def test_finetune_phase_turns_the_frame_affine_off_from_its_start(clip, monkeypatch):
    runner = FakeRunner(ConcatDataset([clip]), max_iters=110)
    hook = FinetunePhaseHook(start_iter=100)
    calls = []
    affine = clip.frame_affine
    monkeypatch.setattr(clip, 'frame_affine', lambda *a: calls.append(1) or affine(*a))
    for iteration, finetune in ((0, False), (99, False), (100, True), (109, True)):
        runner.iter = iteration
        hook.before_train_iter(runner, 0)
        assert clip.finetune is finetune
        calls.clear()
        clip[0]
        assert len(calls) == (0 if finetune else 3)  # one affine per frame outside the phase
    runner.iter = 0  # a resumed or restarted run goes back
    hook.before_train_iter(runner, 0)
    assert not clip.finetune


def test_curriculum_fractions_refer_to_the_schedule_not_the_finetune_phase(clip):
    runner = FakeRunner(ConcatDataset([clip]), max_iters=110)
    hook = MaxSkipCurriculumHook(schedule_iters=100)
    for iteration, expected in ((9, 5), (10, 10), (30, 15), (89, 15), (90, 5), (105, 5)):
        runner.iter = iteration
        hook.before_train_iter(runner, 0)
        assert clip.max_jump == expected


def test_stage3_config_runs_the_official_finetune_phase():
    cfg = Config.fromfile('configs/xmem/xmem_s03_davis_ytvos.py')
    assert cfg.train_cfg.max_iters == 110000
    hooks = {h.type: h for h in cfg.custom_hooks}
    assert hooks['FinetunePhaseHook'].start_iter == 100000
    assert hooks['MaxSkipCurriculumHook'].schedule_iters == 100000


def test_stage3_training_data_builds_through_mmengine_wrappers(tmp_path):
    from mmengine.registry import DefaultScope
    from seg.registry import DATASETS
    davis = make_davis(tmp_path / 'davis', num_train=1, num_val=1, num_frames=10, height=32, width=48)
    cfg = Config.fromfile('configs/xmem/xmem_s03_davis_ytvos.py')
    data = cfg.train_dataloader.dataset
    data.datasets[0].dataset.update(data_root=str(davis), crop_size=(32, 32))
    data.datasets = data.datasets[:1]
    with DefaultScope.overwrite_default_scope('seg'):
        dataset = DATASETS.build(data)
    assert len(dataset) == 5 and dataset[0]['inputs'].shape == (8, 3, 32, 32)
