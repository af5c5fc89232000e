"""Every RAP-SAM config loads; the official-recipe model has the released checkpoint's exact key layout."""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import save_checkpoint

from seg.models.utils.class_embedding import ClassEmbeddingNotFoundError
from seg.parity import load_fixture
from seg.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs' / 'rapsam').glob('*.py'))
MODEL_FIXTURE = REPO.parent / 'shared' / 'parity' / 'fixtures' / 'rapsam_model.pt'


def build(model_cfg, **head):
    model_cfg = copy.deepcopy(model_cfg)
    model_cfg.backbone.init_cfg = None
    model_cfg.panoptic_head.update(head)
    with DefaultScope.overwrite_default_scope('seg'):
        return MODELS.build(model_cfg)


@pytest.mark.parametrize('path', CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads_with_a_complete_model(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'seg'
    for key in ('backbone', 'neck', 'panoptic_head', 'panoptic_fusion_head', 'data_preprocessor'):
        assert key in cfg.model, f'{path.name}: model.{key} missing'
    assert cfg.model.panoptic_head.num_things_classes == cfg.model.panoptic_fusion_head.num_things_classes
    for split in ('train', 'val', 'test'):
        parts = [cfg.get(f'{split}_dataloader'), cfg.get(f'{split}_cfg')] + (
            [cfg.get(f'{split}_evaluator')] if split != 'train' else [])
        assert all(p is None for p in parts) or all(p is not None for p in parts), f'{path.name}: {split} half set'
    if path.name.startswith('eval_'):
        assert cfg.test_dataloader is not None and cfg.test_evaluator is not None


def test_official_recipe_without_vocabulary_file_names_the_command():
    cfg = Config.fromfile(REPO / 'configs' / 'rapsam' / 'eval_rapsam_coco.py')
    cfg.model.panoptic_head.class_embed_path = str(REPO / 'checkpoints' / 'class_embeddings' / 'absent.pth')
    with pytest.raises(ClassEmbeddingNotFoundError, match='python tools/gen_cls.py'):
        build(cfg.model)


def test_official_coco_model_has_the_released_layout_and_our_checkpoints_round_trip(tmp_path):
    if not MODEL_FIXTURE.is_file():
        pytest.skip(f'{MODEL_FIXTURE} not found')
    cfg = Config.fromfile(REPO / 'configs' / 'rapsam' / 'eval_rapsam_coco.py')
    model = build(cfg.model, class_embed_path=None)
    manifest = load_fixture(MODEL_FIXTURE)['manifest']
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == [(e['name'], e['shape']) for e in manifest]
    # A checkpoint our Runner writes holds the same keys under 'state_dict' and loads back strictly.
    path = tmp_path / 'ckpt.pth'
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), str(path))
    state = torch.load(path, weights_only=True)['state_dict']
    assert list(state) == [e['name'] for e in manifest]
    build(cfg.model, class_embed_path=None).load_state_dict(state, strict=True)
