# ProPainter stage 2 (ICCV 2023): the generator, trained as the official
# configs/train_propainter.json with core/trainer.py: YouTube-VOS frames
# pre-resized to 432x240, clips of 10 local + 6 reference frames, frozen RAFT
# (raft-things, 20 iterations) and frozen flow completion net, pixel propagation
# ('nearest') on the local frames, then the generator; hole and valid L1 (weight 1
# each), hinge adversarial loss 0.01 with the temporal PatchGAN; batch 8,
# Adam(lr 1e-4, betas (0, 0.99)) for generator and discriminator, 700k iterations
# with the learning rate x0.1 at 400k. Generator step first, then discriminator.
#
# Where this differs from the seed guide, the official JSON wins:
# * perceptual_weight is 0 in the JSON (and the official trainer would use LPIPS,
#   not VGG features, when it is not), so the VGG19 perceptual and style terms are
#   off here: vgg_weights=None turns them off whatever their weights. To add them,
#   download https://download.pytorch.org/models/vgg19-dcbb9e9d.pth to
#   checkpoints/vgg19-dcbb9e9d.pth and set model.vgg_weights to it with
#   perceptual_weight / style_weight > 0 (layers conv3_4/conv4_4/conv5_4 at
#   0.25/0.25/0.5, BasicSR's set-up the official code keeps commented out).
# * 10 local + 6 reference frames, lr 1e-4, milestones [400k], gamma 0.1, seed 2023.
#
# Needs checkpoints/propainter/raft-things.pth and the stage-1 result
# checkpoints/propainter/recurrent_flow_completion.pth (the release file, or a
# train_flowcomp.py checkpoint: its flow_net.* entries are read), from
# https://github.com/sczhou/ProPainter/releases/download/v0.1.0/.
# Fine-tune from the released generator with
#   --partial-load --cfg-options load_from=checkpoints/propainter/ProPainter.pth
# (a bare generator state_dict loads into model.generator; the discriminator starts fresh).
# --amp: AmpOptimWrapper for both players (the frozen networks still run in float32).
# Evaluate with configs/propainter/propainter_davis_test.py.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/youtube-vos/'
raft_checkpoint = 'checkpoints/propainter/raft-things.pth'
flow_completion_checkpoint = 'checkpoints/propainter/recurrent_flow_completion.pth'
frame_size = (432, 240)  # (w, h) px
num_local_frames = 10
num_ref_frames = 6
max_iters = 700000
lr = 1e-4
adam_betas = (0.0, 0.99)

model = dict(
    type='ProPainterGAN',
    data_preprocessor=dict(type='VideoInpaintingDataPreprocessor'),
    generator=dict(type='ProPainterGenerator'),
    discriminator=dict(type='TemporalPatchDiscriminator', in_channels=3, use_spectral_norm=True),
    flow_completion=dict(type='RecurrentFlowCompleteNet'),
    flow_completion_checkpoint=flow_completion_checkpoint,
    flow_estimator=dict(type='BidirectionalRAFT', raft=dict(type='RAFT', small=False), iters=20),
    raft_checkpoint=raft_checkpoint,
    num_local_frames=num_local_frames,
    hole_weight=1.0,
    valid_weight=1.0,
    adversarial_weight=0.01,
    gan_loss='hinge',
    vgg_weights=None,  # perceptual / style terms off (official perceptual_weight 0)
    perceptual_weight=0.0,
    style_weight=0.0,
    propagation_interpolation='nearest')

# Batch 8 in all: with N GPUs set train_dataloader.batch_size=8//N.
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='ProPainterDataset',
        data_root=data_root,
        ann_file='train.json',
        frame_dir='JPEGImages_432_240',
        size=frame_size,
        num_local_frames=num_local_frames,
        num_ref_frames=num_ref_frames,
        flip_prob=0.5))
# The official trainer does not validate; evaluate checkpoints with propainter_davis_test.py.

# No per-wrapper type: tools/train.py --amp sets the shared default to AmpOptimWrapper.
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    type='OptimWrapper',
    generator=dict(optimizer=dict(type='Adam', lr=lr, betas=adam_betas)),
    discriminator=dict(optimizer=dict(type='Adam', lr=lr, betas=adam_betas)))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[400000], gamma=0.1)]
train_cfg = dict(type='GuardedTrainLoop', max_iters=max_iters, val_interval=max_iters)

# Generator and discriminator are wrapped separately for multi-GPU training.
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
                         find_unused_parameters=True)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000, save_last=True))
log_processor = dict(type='LogProcessor', window_size=100, by_epoch=False)
randomness = dict(seed=2023)
