# FastSAM2 with a ResNet-18 at full size, the model alone (no data, schedule or
# runtime): RAP-SAM's R50 recipe head (configs/rapsam/rapsam_r50_12e_adaptor.py:
# 256 channels, 100 object queries, 3 decoder stages, the CLIP vocabulary of the
# COCO + YouTube-VIS classes, its losses and matching), a ResNet-18 backbone, the
# LiteDFPN neck, prompt fusion with OpenCLIP's convnext_large_d_320 text tower,
# the streaming memory and the task router for all five tasks.
#
# Three local files are read, nothing is downloaded:
#   checkpoints/resnet18-f37072fd.pth     torchvision's ImageNet ResNet-18 (init_cfg)
#   checkpoints/open_clip_convnext_large_d_320.bin
#                                         OpenCLIP convnext_large_d_320 (its text tower)
#   class_embed_path                      the vocabulary; make it with tools/gen_cls.py
#                                         (see rapsam_r50_12e_adaptor.py)
# Without them, build with model.backbone.init_cfg=None, model.panoptic_head.class_embed_path=None
# and a stand-in text encoder (as tools/benchmark/fastsam2_speed.py does).
num_things_classes = 102
num_stuff_classes = 53
num_classes = num_things_classes + num_stuff_classes
feat_channels = 256
class_embed_path = ('checkpoints/class_embeddings/'
                    'convnext_large_d_320_Concat_CocoPanopticDataset_YouTubeVISDataset_2019.pth')

data_preprocessor = dict(
    type='FastSAM2DataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32,
    mask_pad_value=0,
    seg_pad_value=255)

model = dict(
    type='FastSAM2',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # A local copy of torchvision's ImageNet ResNet-18 (nothing is downloaded).
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet18-f37072fd.pth')),
    # The R50 recipe's YOSONeck widths (agg_dim 128, hidden_dim 256) on ResNet-18's four levels.
    neck=dict(type='LiteDFPN', in_channels=[64, 128, 256, 512], agg_dim=128, hidden_dim=feat_channels),
    panoptic_head=dict(
        type='RapSAMVideoHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=100,
        num_stages=3,
        feat_channels=feat_channels,
        num_mask_tokens=1,
        temperature=0.1,
        class_embed_path=class_embed_path,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0, reduction='mean',
                      class_weight=[1.0] * num_classes + [0.1]),
        loss_mask=dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='mean', loss_weight=5.0),
        loss_dice=dict(type='DiceLoss', use_sigmoid=True, activate=True, reduction='mean', naive_dice=True,
                       eps=1.0, loss_weight=5.0)),
    panoptic_fusion_head=dict(type='QueryFusionHead', num_things_classes=num_things_classes,
                              num_stuff_classes=num_stuff_classes, loss_panoptic=None, init_cfg=None),
    prompt_fusion=dict(
        type='PromptFusion',
        embed_dim=feat_channels,
        strategy='cross_attention',
        # Frozen and cached; its checkpoint is reloaded by init_weights, after any parent init_cfg.
        text_encoder=dict(type='TextEncoder', model_name='convnext_large_d_320',
                          checkpoint='checkpoints/open_clip_convnext_large_d_320.bin')),
    memory=dict(type='StreamingMemoryAdapter', embed_dim=feat_channels),
    task_router=dict(type='TaskRouter'),
    train_cfg=dict(
        num_points=12544,
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
    test_cfg=dict(panoptic_on=True, semantic_on=False, instance_on=True, max_per_image=100, iou_thr=0.8,
                  filter_low_score=True))
