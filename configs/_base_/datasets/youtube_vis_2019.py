# YouTube-VIS 2019 (40 classes) as RAP-SAM trains and evaluates on it.
# Layout: data/youtube_vis_2019/{train,valid}/JPEGImages/<video>/<frame>.jpg and
# annotations/youtube_vis_2019_{train,valid}.json — the json files as released
# (train.json / valid.json renamed) or as mmdet's youtubevis2coco.py writes them.
# Training: 2-frame clips (a key frame and one within ±2 frames), flip / scale /
# crop shared by the two frames. Test: whole videos; the valid split has no
# public annotations, so the metric writes the json + zip for the server.
dataset_type = 'YouTubeVISDataset'
data_root = 'data/youtube_vis_2019/'
dataset_version = '2019'
backend_args = None
image_size = (1280, 736)  # (width, height)

train_pipeline = [
    dict(type='UniformRefFrameSample', num_ref_imgs=1, frame_range=2, filter_key_img=True),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile', backend_args=backend_args),
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
            dict(type='LoadImageFromFile', backend_args=backend_args),
            dict(type='Resize', scale=image_size, keep_ratio=True),
            dict(type='LoadTrackAnnotations', with_mask=True),
        ]),
    dict(type='PackVideoSegInputs')
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        dataset_version=dataset_version,
        ann_file='annotations/youtube_vis_2019_train.json',
        data_prefix=dict(img_path='train/JPEGImages'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        dataset_version=dataset_version,
        ann_file='annotations/youtube_vis_2019_valid.json',
        data_prefix=dict(img_path='valid/JPEGImages'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='YouTubeVISMetric',
    metric='youtube_vis_ap',
    outfile_prefix='work_dirs/youtube_vis_2019_results/results',
    format_only=True)
test_evaluator = val_evaluator
