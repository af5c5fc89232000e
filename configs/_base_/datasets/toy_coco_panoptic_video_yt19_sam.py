# coco_panoptic_video_yt19_sam.py on the toy layouts (data/toy/coco_panoptic/ and
# data/toy/ytvis/, written by `python tools/data/make_toy_data.py`), CPU-sized:
# 128-px crops, batch 1, no workers. Toy COCO has things disk/box/triangle and
# stuff wall/floor, toy YouTube-VIS disk/box/triangle/polygon: the joint
# vocabulary is 4 things (disk, box, triangle, polygon) + 2 stuff. The "SAM"
# images are scaled by 0.5-2 (not 0.1-2) so that 128-px images keep segments
# above FilterAnnotations' 32 px. Training only, like the full mix.
_base_ = ['./toy_coco_panoptic_video.py']

image_size = (128, 128)  # (width, height)
coco_data_root = 'data/toy/coco_panoptic/'
ytvis_data_root = 'data/toy/ytvis/'
thing_classes = ('disk', 'box', 'triangle')
stuff_classes = ('wall', 'floor')
coco_metainfo = dict(classes=thing_classes + stuff_classes, thing_classes=thing_classes, stuff_classes=stuff_classes)
ytvis_metainfo = dict(classes=('disk', 'box', 'triangle', 'polygon'))

yt19_train_pipeline = [
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
sam_train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True),
    dict(type='PanopticSegmentsAsInstances', num_things=len(thing_classes)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', resize_type='Resize', scale=image_size, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute', recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='FilterAnnotations', by_box=False, by_mask=True, min_gt_mask_area=32),
    dict(type='SetDataTag', tag='sam'),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
                    'data_tag'))
]

coco_video_train = {{_base_.train_dataloader.dataset}}
yt19_train = dict(
    type='YouTubeVISDataset',
    data_root=ytvis_data_root,
    metainfo=ytvis_metainfo,
    dataset_version='2019',
    ann_file='annotations/youtube_vis_2019_train.json',
    data_prefix=dict(img_path='train/JPEGImages'),
    filter_cfg=dict(filter_empty_gt=True, min_size=16),
    pipeline=yt19_train_pipeline)
sam_train = dict(
    type='CocoPanopticDataset',
    data_root=coco_data_root,
    metainfo=coco_metainfo,
    ann_file='annotations/panoptic_train2017.json',
    data_prefix=dict(img='train2017/', seg='annotations/panoptic_train2017/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=8),
    pipeline=sam_train_pipeline)

train_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='TaskBatchSampler'),
    dataset=dict(
        type='VocabularyConcatDataset',
        data_tags=('coco', 'yt19', 'sam'),
        class_agnostic_tags=('sam', ),
        datasets=[
            dict(type='RepeatDataset', times=1, dataset=coco_video_train),
            dict(type='RepeatDataset', times=2, dataset=yt19_train),
            dict(type='RepeatDataset', times=1, dataset=sam_train),
        ]))
