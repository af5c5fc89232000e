# FastSAM2 with a ResNet-18, trained from scratch on CPU on a mix of four toy
# tasks in ONE run, batches mixing tasks: panoptic images (toy COCO panoptic),
# interactive prompts on the same images (clicks, boxes, rough masks), VOS
# clips (toy DAVIS, first-frame masks) and referring sentences (toy RefCOCO).
# Make the data with
#   python tools/data/make_toy_data.py --out data/toy --layouts coco_panoptic davis refcoco
# The test split reports all four metrics: coco_panoptic/PQ, prompt/mIoU,
# davis/J&F-Mean, refcoco/cIoU and refcoco/mIoU.
# Model sizes and the head's losses are RapSAM's toy ones (rapsam_r18_toy.py).
_base_ = ['../rapsam/rapsam_r18_toy.py']

feat = {{_base_.feat}}
tasks = ('panoptic', 'interactive', 'vos', 'referring')

model = dict(
    type='FastSAM2',
    data_preprocessor=dict(
        _delete_=True,
        type='FastSAM2DataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        mask_pad_value=0,
        seg_pad_value=255),
    # YOSO's settings: a RapSAM checkpoint's neck loads into it.
    neck=dict(_delete_=True, type='LiteDFPN', agg_dim=32, hidden_dim=feat, in_channels=[64, 128, 256, 512]),
    prompt_fusion=dict(type='PromptFusion', embed_dim=feat, strategy='cross_attention',
                       text_encoder=dict(type='ToyTextEncoder', embed_dim=64)),
    memory=dict(type='StreamingMemoryAdapter', embed_dim=feat, num_short=4, num_long=4),
    task_router=dict(type='TaskRouter', tasks=tasks))

# ---------------------------------------------------------------------------- data
coco_root = 'data/toy/coco_panoptic/'
davis_root = 'data/toy/davis'
refcoco_root = 'data/toy/refcoco/'
metainfo = {{_base_.metainfo}}
meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction')
coco = dict(type='CocoPanopticDataset', data_root=coco_root, metainfo=metainfo,
            ann_file='annotations/panoptic_train2017.json',
            data_prefix=dict(img='train2017/', seg='annotations/panoptic_train2017/'),
            filter_cfg=dict(filter_empty_gt=True, min_size=8))
coco_val = dict(coco, ann_file='annotations/panoptic_val2017.json',
                data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'), test_mode=True)
panoptic_train = dict(coco, pipeline=[
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=meta_keys)])
interactive_train = dict(coco, pipeline=[
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True),
    dict(type='PanopticSegmentsAsInstances', num_things={{_base_.num_things_classes}}),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=meta_keys),
    dict(type='SampleInteractivePrompts', num_objects=8)])
vos_train = dict(type='VOSTrackDataset', data_root=davis_root, split='train', num_frames=3, max_skip=3,
                 max_objects=3, repeat=48)
# No flips: the sentences say "left" and "right".
referring_train = dict(type='RefCOCODataset', data_root=refcoco_root, split='train', text_mode='random', pipeline=[
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackReferringInputs')])

# The four sources in one shuffled stream: each batch of 4 mixes tasks at random, in about equal
# shares: 4 x 48 panoptic, 4 x 48 interactive, 48 x 4 VOS clips, 226 referring (ref, sentence) items.
# (Without the repeats, referring items were 61 % of the stream: after 1500 iterations PQ 2.8,
# prompt mIoU 0.140, J&F 0.104, cIoU 0.106.)
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ConcatDataset', ignore_keys=['classes', 'thing_classes', 'stuff_classes', 'palette'],
                 datasets=[dict(type='RepeatDataset', times=4, dataset=panoptic_train),
                           dict(type='RepeatDataset', times=4, dataset=interactive_train),
                           vos_train, referring_train]))

test_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')
panoptic_test = dict(coco_val, pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='LoadPanopticAnnotations'),
    dict(type='PackDetInputs', meta_keys=test_meta_keys)])
interactive_test = dict(coco_val, pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True),
    dict(type='PanopticSegmentsAsInstances', num_things={{_base_.num_things_classes}}),
    dict(type='PackDetInputs', meta_keys=test_meta_keys),
    dict(type='SampleInteractivePrompts', test_mode=True)])
vos_test = dict(type='VOSTrackDataset', data_root=davis_root, split='val', num_frames=None)
referring_test = dict(type='RefCOCODataset', data_root=refcoco_root, split='val', text_mode='all', test_mode=True,
                      pipeline=[dict(type='LoadImageFromFile'),
                                dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                                dict(type='PackReferringInputs')])
val_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ConcatDataset', ignore_keys=['classes', 'thing_classes', 'stuff_classes', 'palette'],
                 datasets=[panoptic_test, interactive_test, vos_test, referring_test]))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='TaskFilteredMetric', task='panoptic',
         metric=dict(type='CocoPanopticMetric', ann_file=coco_root + 'annotations/panoptic_val2017.json',
                     seg_prefix=coco_root + 'annotations/panoptic_val2017/')),
    dict(type='TaskFilteredMetric', task='interactive',
         metric=dict(type='InteractivePromptMetric', gt_field='gt_instances')),
    dict(type='TaskFilteredMetric', task='vos', metric=dict(type='DAVISMetric')),
    dict(type='TaskFilteredMetric', task='referring', metric=dict(type='ReferringMetric')),
]
test_evaluator = val_evaluator

max_iters = 1500
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[1250], gamma=0.1)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# Every parameter takes part in every step (see FastSAM2's docstring).
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
