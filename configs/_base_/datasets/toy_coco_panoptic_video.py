# coco_panoptic_video.py on the toy COCO panoptic layout (data/toy/coco_panoptic/,
# written by `python tools/data/make_toy_data.py`): 3 thing + 2 stuff shape
# classes, 128×128 images, CPU-sized loader.
_base_ = ['./coco_panoptic_video.py']

thing_classes = ('disk', 'box', 'triangle')
stuff_classes = ('wall', 'floor')
image_size = (128, 128)  # (width, height)

train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True),
    dict(type='CopyImageToFrames', num_frames={{_base_.num_frames}}),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='RandomFlip', prob=0.5),
            dict(type='RandomResize', resize_type='Resize', scale=image_size, ratio_range=(0.8, 2.0),
                 keep_ratio=True),
        ]),
    dict(
        type='TransformBroadcaster',
        share_random_params=False,
        transforms=[
            dict(type='RandomCrop', crop_size=image_size, crop_type='absolute', recompute_bbox=True,
                 allow_negative_crop=True),
        ]),
    dict(type='PackVideoSegInputs')
]

train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root='data/toy/coco_panoptic/',
        metainfo=dict(classes=thing_classes + stuff_classes, thing_classes=thing_classes,
                      stuff_classes=stuff_classes),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline))
