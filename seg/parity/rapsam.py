"""Parity runners for RAP-SAM fixtures: ``rapsam_neck``, ``rapsam_head``, ``rapsam_model``.

Every setting comes from the fixture: sizes from its inputs and manifest,
head options from ``meta['config']``, the vocabulary from ``inputs['ov_classifier']``.
"""
import re
from typing import Dict

import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from seg.registry import MODELS, PARITY_RUNNERS

from .fixture import fixture_state_dict

# COCO panoptic's vocabulary: 80 thing classes, then 53 stuff classes.
COCO_PANOPTIC_SPLIT = (80, 53)
# The only head variant the official configs use (and the one we build).
_OFFICIAL_HEAD_FLAGS = dict(use_adaptor=True, panoptic_with_kernel_updator=True, prompt_with_kernel_updator=False,
                            use_kernel_updator=True, sphere_cls=True)


def _shape(fixture: dict, name: str) -> list:
    return next(e['shape'] for e in fixture['manifest'] if e['name'] == name)


def _check_head_flags(config: dict) -> None:
    for flag, supported in _OFFICIAL_HEAD_FLAGS.items():
        if config.get(flag, supported) != supported:
            raise NotImplementedError(f'RapSAMVideoHead is built with {flag}={supported}; the fixture asks for '
                                      f'{config[flag]}')


def head_config(fixture: dict, prefix: str = '') -> dict:
    """``RapSAMVideoHead`` config matching a fixture's head (keys under ``prefix``)."""
    config = fixture['meta'].get('config', {})
    config = config if isinstance(config, dict) else {}
    _check_head_flags(config)
    stages = prefix + 'mask_heads.'
    num_stages = len({e['name'][len(stages):].split('.')[0] for e in fixture['manifest']
                      if e['name'].startswith(stages)})
    num_queries, feat_channels = _shape(fixture, prefix + 'kernels.weight')
    num_classes = fixture['inputs']['ov_classifier'].shape[0]
    num_things = config.get('num_things_classes', num_classes)
    return dict(type='RapSAMVideoHead', num_things_classes=num_things, num_stuff_classes=num_classes - num_things,
                num_queries=num_queries, num_stages=num_stages, feat_channels=feat_channels,
                num_mask_tokens=_shape(fixture, prefix + 'mask_tokens.weight')[0],
                temperature=config.get('temperature', 0.1),
                class_embed_dim=fixture['inputs']['ov_classifier'].shape[-1])


def _neck_config(fixture: dict, prefix: str = '') -> dict:
    lateral = [_shape(fixture, f'{prefix}deconv.lateral_conv{i}.weight')[1] for i in (3, 2, 1, 0)]
    hidden_dim, agg_dim_with_coords = _shape(fixture, prefix + 'loc_conv.weight')[:2]
    return dict(type='YOSONeck', agg_dim=agg_dim_with_coords - 2, hidden_dim=hidden_dim, backbone_shape=lateral)


@PARITY_RUNNERS.register_module('rapsam_neck')
def run_rapsam_neck(fixture: dict) -> Dict[str, torch.Tensor]:
    """``YOSONeck([c2, c3, c4, c5])`` in eval mode → ``features``."""
    neck = MODELS.build(_neck_config(fixture)).eval()
    neck.load_state_dict(fixture_state_dict(fixture), strict=True)
    inputs = fixture['inputs']
    with torch.no_grad():
        return dict(features=neck([inputs[k].float() for k in ('c2', 'c3', 'c4', 'c5')]))


def _head_samples(inputs: dict, prompts: bool) -> list:
    samples = []
    for b, img_shape in enumerate(inputs['img_shape']):
        sample = DetDataSample(metainfo=dict(img_shape=tuple(img_shape)))
        if prompts:
            sample.gt_instances_collected = InstanceData(point_coords=inputs['point_coords'][b],
                                                         pb_labels=inputs['pb_labels'][b])
        samples.append(sample)
    return samples


@PARITY_RUNNERS.register_module('rapsam_head')
def run_rapsam_head(fixture: dict) -> Dict[str, torch.Tensor]:
    """``RapSAMVideoHead.forward`` on object queries (``pan_*``) and on prompts (``prompt_*``)."""
    head = MODELS.build(head_config(fixture)).eval()
    head.load_state_dict(fixture_state_dict(fixture), strict=True)
    head.set_class_embeddings(fixture['inputs']['ov_classifier'].float())
    inputs = fixture['inputs']
    outputs = {}
    with torch.no_grad():
        for name, prompts in (('pan', False), ('prompt', True)):
            all_cls, all_masks, all_ious, queries = head(inputs['x'].float(), _head_samples(inputs, prompts))
            for i, (cls_logits, masks, ious) in enumerate(zip(all_cls, all_masks, all_ious)):
                outputs.update({f'{name}_cls_{i}': cls_logits, f'{name}_mask_{i}': masks, f'{name}_iou_{i}': ious})
            outputs[f'{name}_query_feat'] = queries
    return outputs


def _class_split(fixture: dict) -> tuple:
    """(num_things, num_stuff) of a fixture: from ``meta['config']`` (dict or the recipe's text)."""
    config = fixture['meta'].get('config', {})
    num_classes = fixture['inputs']['ov_classifier'].shape[0]
    if isinstance(config, dict) and 'num_things_classes' in config:
        return config['num_things_classes'], num_classes - config['num_things_classes']
    found = re.search(r'(\d+) thing \+ (\d+) stuff', str(config))
    if found and int(found.group(1)) + int(found.group(2)) == num_classes:
        return int(found.group(1)), int(found.group(2))
    if num_classes == COCO_PANOPTIC_SPLIT[0] + COCO_PANOPTIC_SPLIT[1]:
        return COCO_PANOPTIC_SPLIT
    raise ValueError(f'cannot tell thing from stuff classes ({num_classes} in all) in fixture config {config!r}')


def _resnet_depth(fixture: dict) -> int:
    blocks = tuple(len({e['name'].split('.')[2] for e in fixture['manifest']
                        if e['name'].startswith(f'backbone.layer{i}.')}) for i in range(1, 5))
    depths = {(2, 2, 2, 2): 18, (3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}
    if blocks not in depths:
        raise ValueError(f'backbone blocks per stage {blocks} match no ResNet depth')
    return depths[blocks]


def rapsam_model_config(fixture: dict) -> dict:
    """The ``RapSAM`` config of a full-model fixture (eval_rapsam_coco.py settings)."""
    num_things, num_stuff = _class_split(fixture)
    head = dict(head_config(fixture, 'panoptic_head.'), num_things_classes=num_things, num_stuff_classes=num_stuff)
    return dict(
        type='RapSAM',
        data_preprocessor=dict(type='VideoSegDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=_resnet_depth(fixture), num_stages=4, out_indices=(0, 1, 2, 3),
                      frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True,
                      style='pytorch'),
        neck=_neck_config(fixture, 'neck.'),
        panoptic_head=head,
        panoptic_fusion_head=dict(type='QueryFusionHead', num_things_classes=num_things,
                                  num_stuff_classes=num_stuff),
        test_cfg=dict(panoptic_on=True, semantic_on=False, instance_on=True, max_per_image=100, iou_thr=0.8,
                      filter_low_score=True))


@PARITY_RUNNERS.register_module('rapsam_model')
def run_rapsam_model(fixture: dict) -> Dict[str, torch.Tensor]:
    """Preprocess one BGR image, then panoptic + instance predict and the prompted predict."""
    model = MODELS.build(rapsam_model_config(fixture)).eval()
    model.load_state_dict(fixture_state_dict(fixture), strict=True)
    model.panoptic_head.set_class_embeddings(fixture['inputs']['ov_classifier'].float())
    inputs = fixture['inputs']
    img = inputs['img']
    ori_shape = tuple(inputs['ori_shape'])
    img_shape = tuple(img.shape[-2:])
    metainfo = dict(img_shape=img_shape, ori_shape=ori_shape,
                    scale_factor=(img_shape[1] / ori_shape[1], img_shape[0] / ori_shape[0]))

    def preprocess(prompts: bool) -> dict:
        sample = DetDataSample(metainfo=metainfo)
        if prompts:
            sample.gt_instances_collected = InstanceData(point_coords=inputs['point_coords'],
                                                         pb_labels=inputs['pb_labels'])
        return model.data_preprocessor(dict(inputs=[img], data_samples=[sample]), False)

    outputs = {}
    with torch.no_grad():
        data = preprocess(prompts=False)
        feats = model.extract_feat(data['inputs'])
        all_cls, all_masks, _, _ = model.panoptic_head(feats, data['data_samples'])
        result = model.predict(data['inputs'], data['data_samples'])[0]
        num_classes = all_cls[-1].shape[-1] - 1
        instances = result.pred_instances
        flat_index = instances.queries * num_classes + instances.labels
        order = torch.argsort(flat_index)
        outputs.update(batch_inputs=data['inputs'], neck_features=feats, mask_cls=all_cls[-1],
                       mask_logits=all_masks[-1], pan_seg=result.pred_panoptic_seg.sem_seg.int(),
                       ins_flat_index=flat_index[order], ins_labels=instances.labels[order],
                       ins_scores=instances.scores[order], ins_bboxes=instances.bboxes[order],
                       ins_masks=instances.masks[order])

        data = preprocess(prompts=True)
        _, all_masks, all_ious, _ = model.panoptic_head(model.extract_feat(data['inputs']), data['data_samples'])
        result = model.predict(data['inputs'], data['data_samples'])[0]
        outputs.update(prompt_mask_logits=all_masks[-1], prompt_iou=all_ious[-1],
                       prompt_masks=result.pred_instances.masks)
    return outputs
