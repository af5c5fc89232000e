# Interactive evaluation of RAP-SAM on COCO val2017 (as the official
# eval_rapsam_prompt.py): one click at the most interior pixel of every
# ground-truth segment, given as a 6×6 box; one mask per click; reports
# prompt/mIoU and prompt/NoC@{0.5,0.8,0.85,0.9}. With a single click NoC@t is
# 1 + 19·(fraction of segments below t): see InteractivePromptMetric.
# Annotations are loaded after Resize, so masks are compared at the original size.
_base_ = ['./eval_rapsam_coco.py']

model = dict(data_preprocessor=dict(interactive_test=True))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True),
    dict(type='PanopticSegmentsAsInstances', num_things=80),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='InteractivePromptMetric')
test_evaluator = val_evaluator
