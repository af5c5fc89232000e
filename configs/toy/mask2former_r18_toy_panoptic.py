# Mask2Former (mmdet) with a ResNet-18, trained from scratch on the toy COCO
# panoptic split (`python tools/data/make_toy_data.py`): proof that the
# mmengine/mmdet stack trains and evaluates PQ on CPU in a few minutes.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/toy/coco_panoptic/'
thing_classes = ('disk', 'box', 'triangle')
stuff_classes = ('wall', 'floor')
metainfo = dict(classes=thing_classes + stuff_classes, thing_classes=thing_classes,
                stuff_classes=stuff_classes)
num_things_classes = len(thing_classes)
num_stuff_classes = len(stuff_classes)
num_classes = num_things_classes + num_stuff_classes
image_size = (128, 128)
feat = 64

data_preprocessor = dict(
    type='DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32,
    pad_mask=True,
    mask_pad_value=0,
    pad_seg=True,
    seg_pad_value=255)

model = dict(
    type='Mask2Former',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    panoptic_head=dict(
        type='Mask2FormerHead',
        in_channels=[64, 128, 256, 512],
        strides=[4, 8, 16, 32],
        feat_channels=feat,
        out_channels=feat,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=16,
        num_transformer_feat_level=3,
        pixel_decoder=dict(
            type='MSDeformAttnPixelDecoder',
            num_outs=3,
            norm_cfg=dict(type='GN', num_groups=8),
            act_cfg=dict(type='ReLU'),
            encoder=dict(
                num_layers=2,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=feat, num_heads=4, num_levels=3, num_points=4, dropout=0.0,
                                       batch_first=True),
                    ffn_cfg=dict(embed_dims=feat, feedforward_channels=4 * feat, num_fcs=2, ffn_drop=0.0,
                                 act_cfg=dict(type='ReLU', inplace=True)))),
            positional_encoding=dict(num_feats=feat // 2, normalize=True)),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=feat // 2, normalize=True),
        transformer_decoder=dict(
            return_intermediate=True,
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=feat, num_heads=4, dropout=0.0, batch_first=True),
                cross_attn_cfg=dict(embed_dims=feat, num_heads=4, dropout=0.0, batch_first=True),
                ffn_cfg=dict(embed_dims=feat, feedforward_channels=4 * feat, num_fcs=2, ffn_drop=0.0,
                             act_cfg=dict(type='ReLU', inplace=True))),
            init_cfg=None),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0, reduction='mean',
                      class_weight=[1.0] * num_classes + [0.1]),
        loss_mask=dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=5.0),
        loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean', naive_dice=True,
                       eps=1.0, loss_weight=5.0)),
    panoptic_fusion_head=dict(
        type='MaskFormerFusionHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        loss_panoptic=None,
        init_cfg=None),
    train_cfg=dict(
        num_points=1024,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=2.0),
                dict(type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
                dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)
            ]),
        sampler=dict(type='MaskPseudoSampler')),
    test_cfg=dict(
        panoptic_on=True,
        semantic_on=False,
        instance_on=False,
        max_per_image=50,
        iou_thr=0.8,
        filter_low_score=True),
    init_cfg=None)

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True,
         backend_args=backend_args),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPanopticAnnotations', backend_args=backend_args),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type='CocoPanopticDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/panoptic_train2017.json',
        data_prefix=dict(img='train2017/', seg='annotations/panoptic_train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoPanopticDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/panoptic_val2017.json',
        data_prefix=dict(img='val2017/', seg='annotations/panoptic_val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoPanopticMetric',
    ann_file=data_root + 'annotations/panoptic_val2017.json',
    seg_prefix=data_root + 'annotations/panoptic_val2017/',
    backend_args=backend_args)
test_evaluator = val_evaluator

embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        custom_keys={
            'query_embed': embed_multi,
            'query_feat': embed_multi,
            'level_embed': embed_multi,
        },
        norm_decay_mult=0.0),
    clip_grad=dict(max_norm=1.0, norm_type=2))

max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[480], gamma=0.1)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# A checkpoint every 50 iterations (well under a minute on 2 CPU cores), so a
# killed run resumes with `--resume` and loses little.
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=50, save_last=True, max_keep_ckpts=2))
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)
randomness = dict(seed=0)
