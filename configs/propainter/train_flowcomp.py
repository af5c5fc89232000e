# ProPainter stage 1 (ICCV 2023): the recurrent flow completion net, trained as the
# official configs/train_flowcomp.json with core/trainer_flow_w_edge.py:
# YouTube-VOS frames pre-resized to 432x240 (JPEGImages_432_240/<vid>/*.jpg),
# clips of 10 local + 1 reference frames (only the local frames' flows are used),
# ground-truth flows from a frozen RAFT (raft-things, 20 iterations) unless the
# dataset loads precomputed ones, batch 8, Adam(lr 5e-5, betas (0, 0.99)),
# 700k iterations with the learning rate x0.2 at 300k, 400k, 500k and 600k.
# Loss weights as the official trainer: flow (hole+valid L1 and the first/second
# order smoothness) 0.25, census warp 0.01, edge 1.
#
# Needs checkpoints/propainter/raft-things.pth (ProPainter release v0.1.0,
# https://github.com/sczhou/ProPainter/releases/download/v0.1.0/raft-things.pth).
# Checkpoints hold the net as flow_net.*; stage 2 (train_propainter.py) and the
# inpainter read that file as their flow completion weights. Evaluate the end-point
# error with tools/test.py on a val split (see train_flowcomp_toy.py's val_* fields).
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/youtube-vos/'
raft_checkpoint = 'checkpoints/propainter/raft-things.pth'
frame_size = (432, 240)  # (w, h) px
num_local_frames = 10
num_ref_frames = 1
max_iters = 700000
lr = 5e-5
adam_betas = (0.0, 0.99)

model = dict(
    type='FlowCompletionModel',
    data_preprocessor=dict(type='VideoInpaintingDataPreprocessor'),
    flow_net=dict(type='RecurrentFlowCompleteNet'),
    flow_estimator=dict(type='BidirectionalRAFT', raft=dict(type='RAFT', small=False), iters=20),
    raft_checkpoint=raft_checkpoint,
    num_local_frames=num_local_frames,
    flow_weight=0.25,
    warp_weight=0.01,
    edge_weight=1.0)

# Batch 8 in all: with N GPUs set train_dataloader.batch_size=8//N.
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
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
# The official trainer does not validate.

# One optimiser; no per-wrapper type, so tools/train.py --amp can make it an AmpOptimWrapper.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=lr, betas=adam_betas))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
                        milestones=[300000, 400000, 500000, 600000], gamma=0.2)]
train_cfg = dict(type='GuardedTrainLoop', max_iters=max_iters, val_interval=max_iters)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, save_last=True))
log_processor = dict(type='LogProcessor', window_size=100, by_epoch=False)
randomness = dict(seed=2023)
