"""The full-size FastSAM2-R18 model config: RAP-SAM's recipe head on a ResNet-18, built without its files only
through overrides."""
import copy
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from seg.models.fastsam2 import TASKS
from seg.models.utils.class_embedding import ClassEmbeddingNotFoundError
from seg.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
MODEL_CONFIG = REPO / 'configs' / '_base_' / 'models' / 'fastsam2_r18.py'
RECIPE = REPO / 'configs' / 'rapsam' / 'rapsam_r50_12e_adaptor.py'


def build(model_cfg):
    with DefaultScope.overwrite_default_scope('seg'):
        return MODELS.build(copy.deepcopy(model_cfg))


def test_head_is_the_recipes_and_the_files_are_local():
    model = Config.fromfile(MODEL_CONFIG).model
    recipe = Config.fromfile(RECIPE).model
    assert model.panoptic_head.to_dict() == recipe.panoptic_head.to_dict()
    assert model.train_cfg.to_dict() == recipe.train_cfg.to_dict()
    assert model.test_cfg.to_dict() == recipe.test_cfg.to_dict()
    assert model.backbone.init_cfg == dict(type='Pretrained', checkpoint='checkpoints/resnet18-f37072fd.pth')
    assert model.prompt_fusion.text_encoder == dict(type='TextEncoder', model_name='convnext_large_d_320',
                                                   checkpoint='checkpoints/open_clip_convnext_large_d_320.bin')


def test_builds_without_its_files_through_the_benchmarks_overrides():
    model_cfg = Config.fromfile(MODEL_CONFIG).model
    model_cfg.backbone.init_cfg = None
    model_cfg.panoptic_head.class_embed_path = None
    model_cfg.prompt_fusion.text_encoder = dict(type='ToyTextEncoder', embed_dim=768)
    model = build(model_cfg)
    assert model.backbone.depth == 18 and type(model.neck).__name__ == 'LiteDFPN'
    head = model.panoptic_head
    assert (head.num_classes, head.num_queries, len(head.mask_heads)) == (155, 100, 3)
    assert head.fc_cls.shape == (768, 156, 1)  # the CLIP vocabulary's width
    assert model.prompt_fusion.embed_dim == model.memory.embed_dim == 256
    assert model.task_router.tasks == TASKS


def test_without_overrides_a_missing_file_is_an_error_not_a_download():
    model_cfg = Config.fromfile(MODEL_CONFIG).model
    if Path(model_cfg.panoptic_head.class_embed_path).exists():
        pytest.skip('the class-embedding file exists here')
    with pytest.raises(ClassEmbeddingNotFoundError):
        build(model_cfg)
    pytest.importorskip('open_clip', reason='open_clip is not importable (pip install open_clip_torch)')
    if Path(model_cfg.prompt_fusion.text_encoder.checkpoint).exists():
        pytest.skip('the CLIP checkpoint exists here')
    model_cfg.panoptic_head.class_embed_path = None
    with pytest.raises(FileNotFoundError, match='open_clip_convnext_large_d_320.bin'):
        build(model_cfg)
