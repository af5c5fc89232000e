# RAP-SAM R50 (official recipe, ICLR'25): ResNet-50 + YOSO neck + RapSAM
# video head with adaptors, trained 12 epochs on a mix of COCO panoptic
# (2-frame pseudo-videos), YouTube-VIS 2019 (×25) and class-agnostic
# "COCO-SAM" prompts; a TaskBatchSampler keeps every batch to one task.
# The vocabulary is the CLIP (convnext_large_d_320) embedding of the
# COCO + YouTube-VIS classes: 102 things + 53 stuff. Make it once with
#   python tools/gen_cls.py configs/rapsam/rapsam_r50_12e_adaptor.py \
#       --clip-model convnext_large_d_320 --clip-checkpoint PATH/open_clip_pytorch_model.bin \
#       --out checkpoints/class_embeddings/convnext_large_d_320_Concat_CocoPanopticDataset_YouTubeVISDataset_2019.pth
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/coco_panoptic_video_yt19_sam.py',
    '../_base_/schedules/schedule_12e.py',
]

num_things_classes = 102
num_stuff_classes = 53
num_classes = num_things_classes + num_stuff_classes
class_embed_path = ('checkpoints/class_embeddings/'
                    'convnext_large_d_320_Concat_CocoPanopticDataset_YouTubeVISDataset_2019.pth')

data_preprocessor = dict(
    type='VideoSegDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32,
    pad_mask=True,
    mask_pad_value=0,
    pad_seg=True,
    seg_pad_value=255,
    num_train_prompts=30,
    batch_augments=[
        # (height, width) of the mix's image_size (1280, 736).
        dict(type='BatchFixedSizePad', size=(736, 1280), img_pad_value=0, pad_mask=True, mask_pad_value=0,
             pad_seg=True, seg_pad_value=255)
    ])

model = dict(
    type='RapSAM',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        # A local copy of torchvision's ImageNet ResNet-50 (nothing is downloaded).
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/resnet50-0676ba61.pth')),
    neck=dict(type='YOSONeck', agg_dim=128, hidden_dim=256, backbone_shape=[256, 512, 1024, 2048],
              norm_cfg=dict(type='SyncBN')),
    panoptic_head=dict(
        type='RapSAMVideoHead',
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=100,
        num_stages=3,
        feat_channels=256,
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

# Panoptic, video and prompt batches use different parameters.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))

# Training only: evaluate with eval_rapsam_{coco,prompt,yt19}.py.
val_cfg = None
test_cfg = None
