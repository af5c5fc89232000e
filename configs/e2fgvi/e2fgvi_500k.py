# E2FGVI (CVPR 2022) trained as the official configs/train_e2fgvi.json: YouTube-VOS
# in the E2FGVI layout, 432x240 clips of 5 local + 3 reference frames, hinge GAN,
# Adam(lr 1e-4, betas (0, 0.99)) for generator and discriminator, 500k iterations
# with the learning rate x0.1 at 400k.
#
# Needs, besides the data (data/youtube-vos/{JPEGImages/<vid>.zip, train.json}):
#   checkpoints/spynet_20210409-c6c1bd09.pth  (download
#   https://download.openmmlab.com/mmediting/restorers/basicvsr/spynet_20210409-c6c1bd09.pth):
#   the official generator starts its flow network from it and the flow
#   completion loss measures ground-truth flows with a frozen copy.
# Fine-tune from the released weights with
#   --partial-load --cfg-options load_from=checkpoints/E2FGVI-CVPR22.pth
# (a bare generator state_dict loads into model.generator; the file has no discriminator, which starts
# fresh: --partial-load says that is on purpose).
# Evaluate with configs/e2fgvi/e2fgvi_test.py.
_base_ = ['../_base_/default_runtime.py']

# Our inpainting components are not yet imported by the seg packages' __init__ files.

data_root = 'data/youtube-vos/'
spynet_checkpoint = 'checkpoints/spynet_20210409-c6c1bd09.pth'
frame_size = (432, 240)  # (w, h) px
num_local_frames = 5
num_ref_frames = 3
max_iters = 500000
lr = 1e-4
adam_betas = (0.0, 0.99)

model = dict(
    type='VideoInpaintingGAN',
    data_preprocessor=dict(type='VideoInpaintingDataPreprocessor'),
    generator=dict(type='E2FGVIGenerator', spynet_pretrained=spynet_checkpoint),
    discriminator=dict(type='TemporalPatchDiscriminator', in_channels=3, use_spectral_norm=True),
    flow_supervisor=dict(type='SPyNet', pretrained=spynet_checkpoint),
    num_local_frames=num_local_frames,
    hole_weight=1.0,
    valid_weight=1.0,
    flow_weight=1.0,
    adversarial_weight=0.01,
    gan_loss='hinge')

# Batch 8 in all: the official script splits it over its GPUs; with N GPUs set
# train_dataloader.batch_size=8//N.
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='VideoInpaintingDataset',
        data_root=data_root,
        ann_file='train.json',
        frame_dir='JPEGImages',
        size=frame_size,
        num_local_frames=num_local_frames,
        num_ref_frames=num_ref_frames,
        flip_prob=0.5))
# The official trainer does not validate (no val_* here); evaluate checkpoints with e2fgvi_test.py.

optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=lr, betas=adam_betas)),
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=lr, betas=adam_betas)))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[400000], gamma=0.1)]
train_cfg = dict(type='GuardedTrainLoop', max_iters=max_iters, val_interval=max_iters)

# Generator and discriminator are wrapped separately for multi-GPU training (mmengine's GAN wrapper).
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=True)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, save_last=True))
log_processor = dict(type='LogProcessor', window_size=100, by_epoch=False)
randomness = dict(seed=2021)
