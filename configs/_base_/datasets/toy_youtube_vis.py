# youtube_vis_2019.py on the toy YouTube-VIS layout (data/toy/ytvis/, written by
# `python tools/data/make_toy_data.py`): 4 shape classes, 96×160 frames, CPU-sized
# loaders. The toy valid split has annotations, so the metric computes mask AP.
_base_ = ['./youtube_vis_2019.py']

data_root = 'data/toy/ytvis/'
metainfo = dict(classes=('disk', 'box', 'triangle', 'polygon'))
image_size = (160, 96)  # (width, height)

train_pipeline = [
    dict(type='UniformRefFrameSample', num_ref_imgs=1, frame_range=2, filter_key_img=True),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadTrackAnnotations', with_mask=True),
            dict(type='AddVoidSemSeg'),
            dict(type='RandomResize', resize_type='Resize', scale=image_size, ratio_range=(0.8, 2.0),
                 keep_ratio=True),
            dict(type='RandomCrop', crop_size=image_size, crop_type='absolute', recompute_bbox=True,
                 allow_negative_crop=True),
            dict(type='RandomFlip', prob=0.5),
        ]),
    dict(type='PackVideoSegInputs')
]
test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=image_size, keep_ratio=True),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='PackVideoSegInputs')
]

train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, filter_cfg=dict(filter_empty_gt=True, min_size=16),
                 pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(format_only=False, outfile_prefix=None)
test_evaluator = val_evaluator
