# RAP-SAM's 12-epoch schedule: AdamW 1e-4 (backbone ×0.1), weight decay 0.05
# (none on norms and query embeddings), 500-iteration linear warm-up, ×0.1 at
# epochs 8 and 11, gradient clipping at 0.01. lr is for 16 images per step;
# `--auto-scale-lr` rescales it for another total batch size.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)
]

_embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'kernels': _embed_multi,
        },
        norm_decay_mult=0.0),
    clip_grad=dict(max_norm=0.01, norm_type=2))

auto_scale_lr = dict(enable=False, base_batch_size=16)
