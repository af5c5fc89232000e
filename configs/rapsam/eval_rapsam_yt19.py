# RapSAM (ResNet-50) on YouTube-VIS 2019 valid, as RAP-SAM's eval_rapsam_yt19.py:
# whole videos run clip by clip (RapSAMVideo: 5-frame clips, 3-frame clips for
# videos of at most 15 frames, queries linked across clips by Hungarian matching
# of their embeddings), with the 40 YouTube-VIS classes as the vocabulary and
# instance tracks only. The valid split has no public annotations, so the metric
# writes work_dirs/youtube_vis_2019_results/rapsam_r50.json and
# rapsam_r50.submission_file.zip for the evaluation server.
#
# The vocabulary file (once; its default name comes from the dataset):
#   python tools/gen_cls.py configs/rapsam/eval_rapsam_yt19.py --split test \
#       --clip-model convnext_large_d_320 --clip-checkpoint CLIP_WEIGHTS
# Test: python tools/test.py configs/rapsam/eval_rapsam_yt19.py CHECKPOINT
_base_ = ['./rapsam_r50_12e_adaptor.py']

num_things_classes = 40
num_stuff_classes = 0
image_size = (1280, 736)  # (width, height)

model = dict(
    type='RapSAMVideo',
    clip_size=5,
    clip_size_small=3,
    small_clip_thr=15,
    overlap=0,
    panoptic_head=dict(
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        class_embed_path='checkpoints/class_embeddings/convnext_large_d_320_YouTubeVISDataset_2019.pth'),
    panoptic_fusion_head=dict(num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes),
    test_cfg=dict(panoptic_on=False, semantic_on=False, instance_on=True))

# The test split of ../_base_/datasets/youtube_vis_2019.py (the model config's
# own datasets are replaced, hence _delete_).
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
test_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type='YouTubeVISDataset',
        data_root='data/youtube_vis_2019/',
        dataset_version='2019',
        ann_file='annotations/youtube_vis_2019_valid.json',
        data_prefix=dict(img_path='valid/JPEGImages'),
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(
    _delete_=True,
    type='YouTubeVISMetric',
    metric='youtube_vis_ap',
    outfile_prefix='work_dirs/youtube_vis_2019_results/rapsam_r50',
    format_only=True)
test_cfg = dict(_delete_=True, type='TestLoop')
