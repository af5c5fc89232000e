# ProPainter stage 2 (train_propainter.py) scaled down to the toy ProPainter data
# so that it trains and validates on a CPU in a few minutes. Run stage 1 first
# (train_flowcomp_toy.py, which also lists the data preparation); its last
# checkpoint is the frozen flow completion net here:
#   python tools/train.py configs/propainter/train_flowcomp_toy.py
#   python tools/train.py configs/propainter/train_propainter_toy.py
#
# Flows: the dataset's precomputed OpenCV DIS flows (see train_flowcomp_toy.py), so
# no RAFT. Training clips: 4 local + 1 reference frames at 112x64, batch 1, the same
# clip and holes per video every pass (dataset seed). The official optimisers
# (Adam, lr 1e-4, betas (0, 0.99)), losses (hole / valid L1, hinge GAN 0.01; no
# perceptual or style terms, as the official JSON) and order of steps are kept;
# only the iterations shrink, to 200 (as the E2FGVI toy, whose generator has the same
# normal(0, 0.02) start). Measured: 50 iterations are too few (toy PSNR 24.26 dB
# untrained -> 24.04 dB; 2.5-45 s an iteration on 2 shared CPU cores); lr 5e-4 to make
# up for fewer steps diverged within 3 iterations. 200 iterations (one run, the stage-1
# toy checkpoint frozen, 5-30 s an iteration on a loaded 2-core CPU): toy PSNR 24.26 ->
# 24.33 dB, SSIM 0.658 -> 0.662, a small rise (the official lr and normal(0, 0.02) start
# learn slowly). Validation: PSNR / SSIM of whole toy test videos at their own 216x120
# (the official SSIM window of 65 px needs frames taller than 64 px) with
# free-form holes fixed by seed, windows of 11 local frames as the official test.
_base_ = ['./train_propainter.py']

data_root = 'data/toy/propainter/'
flow_dir = 'Flows_flo'
frame_size = (112, 64)  # (w, h) px, training
test_frame_size = (216, 120)  # (w, h) px, the toy data's size
num_local_frames = 4
num_ref_frames = 1
max_iters = 200

model = dict(
    flow_estimator=None,
    raft_checkpoint=None,
    flow_completion_checkpoint='work_dirs/train_flowcomp_toy/iter_100.pth',
    num_local_frames=num_local_frames)

train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        flow_dir=flow_dir,
        size=frame_size,
        num_local_frames=num_local_frames,
        num_ref_frames=num_ref_frames,
        seed=0))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ProPainterDataset',
        data_root=data_root,
        ann_file='test.json',
        flow_dir=flow_dir,
        mask_dir=None,
        seed=0,
        size=test_frame_size,
        test_mode=True))
val_cfg = dict(type='ValLoop')
val_evaluator = dict(type='VideoInpaintingMetric')
test_dataloader = val_dataloader
test_cfg = dict(type='TestLoop')
test_evaluator = val_evaluator

param_scheduler = [dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[max_iters],
                        gamma=0.1)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, save_last=True))
log_processor = dict(window_size=1)
randomness = dict(seed=0)
