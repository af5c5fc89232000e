# Interactive (point-prompt) evaluation of the toy RapSAM: one click at the
# most interior pixel of every ground-truth segment (things and stuff) of the
# toy val split, one mask per click; reports prompt/mIoU and prompt/NoC@t.
_base_ = ['./rapsam_r18_toy.py']

model = dict(data_preprocessor=dict(interactive_test=True))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPanopticAnnotations', with_bbox=True, with_mask=True, with_seg=True),
    dict(type='PanopticSegmentsAsInstances', num_things={{_base_.num_things_classes}}),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='InteractivePromptMetric')
test_evaluator = val_evaluator
