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
