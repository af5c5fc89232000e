# RAP-SAM's training mix under one vocabulary (VocabularyConcatDataset):
#   0 'coco' COCO panoptic as 2-frame pseudo-videos (coco_panoptic_video.py), ×1;
#   1 'yt19' YouTube-VIS 2019 2-frame clips (as in youtube_vis_2019.py), ×25;
#   2 'sam'  "COCO-SAM": COCO panoptic images whose thing and stuff segments are
#            all class-agnostic instances for prompted training, ×1.
# Joint vocabulary: 102 things + 53 stuff, dataset_name
# 'Concat_CocoPanopticDataset_YouTubeVISDataset_2019'. TaskBatchSampler keeps
# each batch to one source. Layout: data/coco/ (see coco_panoptic_video.py),
# data/youtube_vis_2019/ (see youtube_vis_2019.py).
# Training only: the evaluation sets label with their own vocabularies, so
# evaluate with configs/rapsam/eval_rapsam_*.py (which add their own bases).
_base_ = ['./coco_panoptic_video.py']

image_size = (1280, 736)  # (width, height)
yt19_data_root = 'data/youtube_vis_2019/'

yt19_train_pipeline = [
    dict(type='UniformRefFrameSample', num_ref_imgs=1, frame_range=2, filter_key_img=True),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile', backend_args=None),
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
    dict(type='LoadImageFromFile', to_float32=True, backend_args=None),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True, backend_args=None),
    dict(type='PanopticSegmentsAsInstances', num_things=80),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', resize_type='Resize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
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
    data_root=yt19_data_root,
    dataset_version='2019',
    ann_file='annotations/youtube_vis_2019_train.json',
    data_prefix=dict(img_path='train/JPEGImages'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=yt19_train_pipeline)
sam_train = dict(
    type='CocoPanopticDataset',
    data_root='data/coco/',
    ann_file='annotations/panoptic_train2017.json',
    data_prefix=dict(img='train2017/', seg='annotations/panoptic_train2017/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32),
    pipeline=sam_train_pipeline)

train_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='TaskBatchSampler'),
    dataset=dict(
        type='VocabularyConcatDataset',
        data_tags=('coco', 'yt19', 'sam'),
        class_agnostic_tags=('sam', ),
        datasets=[
            dict(type='RepeatDataset', times=1, dataset=coco_video_train),
            dict(type='RepeatDataset', times=25, dataset=yt19_train),
            dict(type='RepeatDataset', times=1, dataset=sam_train),
        ]))
