# COCO panoptic as 2-frame pseudo-videos (RAP-SAM's video training on images):
# each image is copied into two frames that share flip and scale and are
# cropped independently; things keep one instance id across the frames and
# stuff comes with the semantic map. Layout: data/coco/{train2017,
# annotations/panoptic_train2017.json, annotations/panoptic_train2017/}.
# Training only; it names no data_root / backend_args, so it combines with
# coco_panoptic.py (panoptic val / test on images) as a second base.
image_size = (1280, 736)  # (width, height)
num_frames = 2

train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=None),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True, backend_args=None),
    dict(type='CopyImageToFrames', num_frames=num_frames),
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
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CocoPanopticDataset',
        data_root='data/coco/',
        ann_file='annotations/panoptic_train2017.json',
        data_prefix=dict(img='train2017/', seg='annotations/panoptic_train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=None))
