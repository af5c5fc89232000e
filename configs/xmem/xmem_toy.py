# XMem trained from scratch on the toy DAVIS split (`python tools/data/make_toy_data.py --layouts davis`:
# 4 training and 2 validation sequences of 12 frames at 96x160) on CPU, then J&F on the toy val split.
# The official stage-2/3 recipe scaled down: clips of 3 frames cropped to 48x80, one clip per batch,
# AdamW, bootstrapped CE (annealed over the run) + dice, frozen BatchNorm; learning rate 1e-4 (the official
# 1e-5 fine-tunes ImageNet-initialised encoders; these start from random weights).
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/toy/davis/'
max_iters = 300

model = dict(
    type='XMemVOS',
    # Training clips come as uint8 RGB and are normalised here (ImageNet statistics of RGB in [0, 1]);
    # evaluation items (video_collate) are normalised by their datasets and passed through.
    data_preprocessor=dict(type='VOSDataPreprocessor', mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    network=dict(key_dim=64, value_dim=512, hidden_dim=64),
    loss_ce=dict(type='BootstrappedCELoss', start_warm=100, end_warm=250, top_p=0.15),
    loss_dice=dict(type='XMemDiceLoss'),
    num_ref_frames=2,
    deep_update_prob=0.2)

train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='VOSClipDataset', data_root=data_root, layout='davis', split='train', num_frames=3,
                 max_jump=5, max_num_obj=3, crop_size=(48, 80), repeat=1))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='video_collate'),
    dataset=dict(type='DAVISEvalDataset', data_root=data_root, split='val'))
val_evaluator = dict(type='DAVISMetric')
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
                     clip_grad=dict(max_norm=3.0))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[240], gamma=0.1)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
